/**
 * The floor: the least a Node HTTP server can do for a BOSH request. It reads the request body
 * and answers every POST with a fixed empty `<body/>` over HTTP/1.1 keep-alive. With `--saxes`
 * it also runs the body through saxes (the XML parser the CM uses), as a second, slightly higher
 * floor. bench/run.ts pins it to the servers' core and measures its CPU per request.
 */
import http from 'node:http';
import { SaxesParser } from 'saxes';

const useSaxes = process.argv.includes('--saxes');
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

const server = http.createServer({ keepAlive: true }, (req, res) => {
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
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
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
