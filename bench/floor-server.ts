/**
 * The floor: the least a Node HTTP server can do for a BOSH request. It reads the request body
 * and answers every POST with a fixed empty `<body/>` over HTTP/1.1 keep-alive. With `--saxes`
 * it also runs the body through saxes (the XML parser the CM uses), as a second, slightly higher
 * floor. With `--raw` it is no node:http server at all but a responder on `net` sockets that
 * finds each request's end by its Content-Length and writes a fixed reply: what a request costs
 * below node:http (the kernel, libuv, one read and one write), a measuring stick, not a server
 * (no chunked bodies, no limits). bench/run.ts pins it to the servers' core and measures its CPU
 * per request.
 */
import http from 'node:http';
import net from 'node:net';
import { SaxesParser } from 'saxes';

const useSaxes = process.argv.includes('--saxes');
const raw = process.argv.includes('--raw');
const RESPONSE = Buffer.from(`<body xmlns='http://jabber.org/protocol/httpbind'/>`);
let elements = 0;

function parse(text: string): void {
  const parser = new SaxesParser({ xmlns: true });
  parser.on('opentag', () => {
    elements++;
  });
  parser.on('error', () => {
    /* a malformed body would get a 400 from a real CM; the floor ignores it */
  });
  parser.write(text).close();
}

const server: net.Server = raw ? net.createServer(rawResponder) : http.createServer({ keepAlive: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (useSaxes) parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200, {
      'Content-Type': 'text/xml; charset=utf-8',
      'Content-Length': RESPONSE.length,
      'Access-Control-Allow-Origin': '*',
    });
    res.end(RESPONSE);
  });
});
if (server instanceof http.Server) {
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
}
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  process.send?.({ ready: true, port, pid: process.pid });
});
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'stop') server.close(() => process.exit(0));
  if (m.cmd === 'stats') process.send?.({ elements });
});
process.on('disconnect', () => process.exit(0));

const RAW_REPLY = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: ${RESPONSE.length}\r\nAccess-Control-Allow-Origin: *\r\n\r\n`, 'latin1'),
  RESPONSE,
]);
const HEADERS_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*([0-9]{1,9})/i;

/** `--raw`: every complete request (headers, then Content-Length bytes) gets RAW_REPLY. */
function rawResponder(socket: net.Socket): void {
  socket.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
    for (;;) {
      const end = pending.indexOf(HEADERS_END);
      if (end < 0) return;
      const length = Number(CONTENT_LENGTH.exec(pending.toString('latin1', 0, end))?.[1] ?? 0);
      const next = end + HEADERS_END.length + length;
      if (pending.length < next) return;
      pending = pending.subarray(next);
      socket.write(RAW_REPLY);
    }
  });
  socket.on('error', () => socket.destroy());
}
