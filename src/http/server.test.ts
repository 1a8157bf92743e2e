import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import type { BoshExchange, BoshReply } from '../bosh/exchange.js';
import { DEFAULT_CONFIG, type CmConfig } from '../config.js';
import { createMemoryLogger } from '../log.js';
import { createHttpServer, type HttpServerOptions } from './server.js';
import { OVERSIZED_HEAD_BYTES } from './body-reader.js';

const APP = 'https://app.example';
const XML = 'text/xml; charset=utf-8';

interface Started {
  url: string;
  exchanges: BoshExchange[];
  lines: string[];
  close: () => Promise<void>;
}

type Answer = (exchange: BoshExchange) => BoshReply | undefined;
const echo: Answer = (e) => ({ status: 200, contentType: XML, body: `<body xmlns='http://jabber.org/protocol/httpbind'>${e.body.length}</body>` });

async function start(
  t: TestContext,
  answer: Answer = echo,
  http: Partial<CmConfig['http']> = {},
  options: HttpServerOptions = {},
): Promise<Started> {
  const config: CmConfig = {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0, maxBodyBytes: 10_000, compressMinBytes: 100, ...http },
    cors: { origins: [APP], maxAgeS: 600 },
  };
  const exchanges: BoshExchange[] = [];
  const { logger, lines } = createMemoryLogger('debug');
  const server = createHttpServer(
    config,
    {
      handle(exchange) {
        exchanges.push(exchange);
        const reply = answer(exchange);
        if (reply) exchange.reply(reply);
      },
    },
    logger,
    options,
  );
  const { url } = await server.listen();
  t.after(() => server.close());
  return { url, exchanges, lines, close: () => server.close() };
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** node:http without any automatic decoding, to see the bytes on the wire. */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'POST', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const BODY = "<body rid='1' xmlns='http://jabber.org/protocol/httpbind' to='localhost'/>";

test('B-08 B-07 B-03: a POST with any Content-Type and unknown headers reaches the handler; its reply comes back', async (t) => {
  const s = await start(t);
  for (const contentType of ['text/xml; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', undefined]) {
    const headers: Record<string, string> = { 'X-Something': 'ignored' };
    if (contentType) headers['Content-Type'] = contentType;
    const res = await fetch(s.url, { method: 'POST', headers, body: BODY });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), XML);
    assert.equal(await res.text(), `<body xmlns='http://jabber.org/protocol/httpbind'>${BODY.length}</body>`);
  }
  assert.equal(s.exchanges.length, 4);
  const e = s.exchanges[0]!;
  assert.equal(e.body, BODY);
  assert.equal(e.oversized, false);
  assert.equal(e.remoteAddress, '127.0.0.1');
  assert.equal(e.origin, undefined);
  assert.equal(e.secure, false);
});

test('listen on port 0 reports the bound port and the BOSH URL', async (t) => {
  const s = await start(t);
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/http-bind$/);
  assert.notEqual(new URL(s.url).port, '0');
});

test('B-02 B-05 B-10: replies carry Content-Length and Cache-Control: no-store, never chunked, also when held', async (t) => {
  const big = 'x'.repeat(200_000);
  const s = await start(t, (e) => {
    setTimeout(() => e.reply({ status: 200, contentType: XML, body: `<body>${big}</body>` }), 30);
    return undefined;
  });
  for (const acceptEncoding of ['identity', 'gzip']) {
    const res = await raw(s.url, { body: BODY, headers: { 'Accept-Encoding': acceptEncoding } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(Number(res.headers['content-length']), res.body.length);
    assert.equal(res.headers['cache-control'], 'no-store');
  }
});

test('B-06 X-13: a reply at least http.compressMinBytes long is compressed with an accepted coding, with Vary', async (t) => {
  const long = `<body xmlns='http://jabber.org/protocol/httpbind'>${'<message/>'.repeat(50)}</body>`;
  const s = await start(t, () => ({ status: 200, contentType: XML, body: long }));
  const cases: Array<[string | undefined, string | undefined]> = [
    ['gzip, deflate, br', 'gzip'],
    ['deflate', 'deflate'],
    ['gzip;q=0, deflate', 'deflate'],
    ['gzip;q=0', undefined],
    ['identity', undefined],
    ['br', undefined],
    [undefined, undefined],
  ];
  for (const [acceptEncoding, expected] of cases) {
    const res = await raw(s.url, { body: BODY, headers: acceptEncoding ? { 'Accept-Encoding': acceptEncoding } : {} });
    assert.equal(res.headers['content-encoding'], expected, `Accept-Encoding: ${acceptEncoding}`);
    assert.equal(Number(res.headers['content-length']), res.body.length);
    assert.match(String(res.headers.vary), /Accept-Encoding/);
    const text = expected === 'gzip' ? gunzipSync(res.body) : expected === 'deflate' ? inflateSync(res.body) : res.body;
    assert.equal(text.toString(), long);
  }
  // fetch decodes it transparently.
  assert.equal(await (await fetch(s.url, { method: 'POST', body: BODY })).text(), long);
});

test('B-06: a reply under http.compressMinBytes is sent as is', async (t) => {
  const s = await start(t);
  const res = await raw(s.url, { body: BODY, headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(res.headers['content-encoding'], undefined);
  assert.match(res.body.toString(), /^<body/);
});

test('B-38: gzip and deflate (zlib or raw) request bodies are decoded before the handler sees them', async (t) => {
  const s = await start(t);
  const encoded: Array<[string, Buffer]> = [
    ['gzip', gzipSync(BODY)],
    ['x-gzip', gzipSync(BODY)],
    ['deflate', deflateSync(BODY)],
    ['deflate', deflateRawSync(BODY)],
    ['identity', Buffer.from(BODY)],
  ];
  for (const [coding, body] of encoded) {
    const res = await raw(s.url, { body, headers: { 'Content-Encoding': coding } });
    assert.equal(res.status, 200);
  }
  assert.deepEqual(s.exchanges.map((e) => [e.body, e.oversized]), encoded.map(() => [BODY, false]));
});

test('a body over http.maxBodyBytes reaches the handler as oversized, with its first 4 KiB', async (t) => {
  const s = await start(t, () => ({ status: 200, contentType: XML, body: "<body type='terminate' condition='policy-violation'/>" }));
  const body = `<body rid='5' sid='abc' xmlns='http://jabber.org/protocol/httpbind'>${'<message/>'.repeat(5000)}</body>`;
  const res = await raw(s.url, { body });
  assert.equal(res.status, 200);
  assert.match(res.body.toString(), /policy-violation/);
  assert.equal(res.headers.connection, 'close');
  assert.equal(s.exchanges.length, 1);
  const e = s.exchanges[0]!;
  assert.equal(e.oversized, true);
  assert.equal(e.body.length, OVERSIZED_HEAD_BYTES);
  assert.ok(body.startsWith(e.body));
});

test('B-38: a zip bomb stops at http.maxBodyBytes of decoded data', async (t) => {
  // Deflate expands at most ~1000:1, so 64 MiB of spaces fit in a ~64 KB request.
  const s = await start(t, echo, { maxBodyBytes: 100_000 });
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, ' '), { level: 9 });
  assert.ok(bomb.length < 100_000, 'the bomb itself is under the limit');
  const before = process.memoryUsage().arrayBuffers;
  const res = await raw(s.url, { body: bomb, headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(res.status, 200);
  assert.equal(s.exchanges[0]!.oversized, true);
  assert.equal(s.exchanges[0]!.body.length, OVERSIZED_HEAD_BYTES);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'decoding stayed bounded');
});

test('a compressed body larger than http.maxBodyBytes is oversized before decoding', async (t) => {
  const s = await start(t);
  const noise = Buffer.from(Array.from({ length: 30_000 }, (_, i) => (i * 7919) % 251));
  await raw(s.url, { body: gzipSync(noise, { level: 0 }), headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(s.exchanges[0]!.oversized, true);
});

test('B-38: an unsupported Content-Encoding or undecodable data is answered bad-request without the handler', async (t) => {
  const s = await start(t);
  for (const [coding, body] of [['br', BODY], ['gzip, gzip', BODY], ['gzip', 'not gzip at all'], ['deflate', 'xx garbage']] as const) {
    const res = await raw(s.url, { body, headers: { 'Content-Encoding': coding } });
    assert.equal(res.status, 200, coding);
    assert.equal(res.body.toString(), "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='bad-request'/>");
    assert.equal(res.headers['content-type'], XML);
  }
  assert.equal(s.exchanges.length, 0);
});

test('B-119: a body that is not valid UTF-8 reaches the handler marked malformed; valid UTF-8 does not', async (t) => {
  const s = await start(t);
  await raw(s.url, { body: Buffer.concat([Buffer.from("<body rid='1'>"), Buffer.from([0xc3, 0x28]), Buffer.from('</body>')]) });
  await raw(s.url, { body: "<body rid='2'>ü € 😀</body>" });
  await raw(s.url, { body: gzipSync(Buffer.from([0x3c, 0xff, 0x3e])), headers: { 'Content-Encoding': 'gzip' } });
  assert.deepEqual(s.exchanges.map((e) => e.malformed), ['request body is not valid UTF-8', undefined, 'request body is not valid UTF-8']);
  assert.equal(s.exchanges[1]!.body, "<body rid='2'>ü € 😀</body>");
});

test('B-115 B-116: the status of the reply is passed through (legacy 400/403/404)', async (t) => {
  for (const status of [200, 400, 403, 404]) {
    const s = await start(t, () => ({ status, contentType: XML, body: '<body/>' }));
    const res = await fetch(s.url, { method: 'POST', body: BODY });
    assert.equal(res.status, status);
    await res.arrayBuffer();
  }
});

test('B-17: the reply Content-Type is the one the BOSH layer chose', async (t) => {
  const s = await start(t, () => ({ status: 200, contentType: 'application/xml; charset=utf-8', body: '<body/>' }));
  const res = await fetch(s.url, { method: 'POST', body: BODY });
  assert.equal(res.headers.get('content-type'), 'application/xml; charset=utf-8');
});

test('CORS: an allowed Origin is echoed on replies and passed to the handler', async (t) => {
  const s = await start(t);
  const res = await fetch(s.url, { method: 'POST', headers: { Origin: APP }, body: BODY });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), APP);
  assert.equal(res.headers.get('vary'), 'Accept-Encoding, Origin');
  assert.equal(s.exchanges[0]!.origin, APP);
  const plain = await fetch(s.url, { method: 'POST', body: BODY });
  assert.equal(plain.headers.get('access-control-allow-origin'), null);
});

test('CORS: a preflight from an allowed Origin gets methods, headers and max-age', async (t) => {
  const s = await start(t);
  const res = await fetch(s.url, {
    method: 'OPTIONS',
    headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), APP);
  assert.equal(res.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
  assert.equal(res.headers.get('access-control-allow-headers'), 'content-type');
  assert.equal(res.headers.get('access-control-max-age'), '600');
  assert.equal(s.exchanges.length, 0);
});

test('CORS: a foreign Origin is refused with 403, and its POST never reaches the handler', async (t) => {
  const s = await start(t);
  const preflight = await fetch(s.url, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(preflight.status, 403);
  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  const post = await fetch(s.url, { method: 'POST', headers: { Origin: 'https://evil.example' }, body: BODY });
  assert.equal(post.status, 403);
  assert.equal(post.headers.get('access-control-allow-origin'), null);
  await post.arrayBuffer();
  assert.equal(s.exchanges.length, 0);
  assert.ok(s.lines.some((l) => l.includes('foreign Origin refused')));
});

test('GET and HEAD on the endpoint answer a small HTML page', async (t) => {
  const s = await start(t);
  const res = await fetch(s.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await res.text(), /BOSH endpoint/);
  const head = await fetch(s.url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.ok(Number(head.headers.get('content-length')) > 0);
  assert.equal(s.exchanges.length, 0);
});

test('other methods get 405 with Allow; other paths get 404', async (t) => {
  const s = await start(t);
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(s.url, { method, body: 'x' });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
    await res.arrayBuffer();
  }
  const base = new URL(s.url);
  for (const path of ['/', '/http-bindx', '/other/http-bind']) {
    const res = await fetch(new URL(path, base), { method: 'POST', body: BODY });
    assert.equal(res.status, 404, path);
    await res.arrayBuffer();
  }
  assert.equal(s.exchanges.length, 0);
});

test('the endpoint answers with a trailing slash and with a query string', async (t) => {
  const s = await start(t);
  for (const suffix of ['/', '?x=1', '/?x=1']) {
    const res = await fetch(s.url + suffix, { method: 'POST', body: BODY });
    assert.equal(res.status, 200, suffix);
    await res.arrayBuffer();
  }
  assert.equal(s.exchanges.length, 3);
});

test('B-01 B-08: a one-shot HTTP/1.0 POST is answered with Content-Length and the connection closes', async (t) => {
  const s = await start(t);
  const { port, pathname } = new URL(s.url);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`POST ${pathname} HTTP/1.0\r\nHost: x\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
    });
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nContent-Length: \d+\r\n/i);
  assert.doesNotMatch(text, /Transfer-Encoding/i);
  assert.ok(text.endsWith('</body>'));
});

test('B-09: pipelined requests on one connection are answered in order, though clients should not rely on it', async (t) => {
  const s = await start(t);
  const { port, pathname } = new URL(s.url);
  const request = (body: string) => `POST ${pathname} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request('first') + request('second!') + request('3')));
    let data = '';
    socket.on('data', (c) => {
      data += c.toString();
      if ((data.match(/<\/body>/g) ?? []).length < 3) return;
      socket.end();
      resolve(data);
    });
    socket.on('error', reject);
  });
  assert.deepEqual([...text.matchAll(/httpbind'>(\d+)<\/body>/g)].map((m) => m[1]), ['5', '7', '1']);
});

test('B-08: parallel held requests on separate connections are each answered', async (t) => {
  const held: BoshExchange[] = [];
  const s = await start(t, (e) => {
    held.push(e);
    if (held.length === 2) for (const h of held) h.reply({ status: 200, contentType: XML, body: `<body>${h.body}</body>` });
    return undefined;
  });
  const [a, b] = await Promise.all([raw(s.url, { body: 'a' }), raw(s.url, { body: 'b' })]);
  assert.deepEqual([a.body.toString(), b.body.toString()].sort(), ['<body>a</body>', '<body>b</body>']);
});

test('a second reply to one exchange is ignored and logged', async (t) => {
  const s = await start(t, (e) => {
    e.reply({ status: 200, contentType: XML, body: '<body>first</body>' });
    return { status: 200, contentType: XML, body: '<body>second</body>' };
  });
  assert.equal(await (await fetch(s.url, { method: 'POST', body: BODY })).text(), '<body>first</body>');
  assert.ok(s.lines.some((l) => l.includes('second reply')));
});

test('a handler that throws gets internal-server-error for its request', async (t) => {
  const s = await start(t, () => {
    throw new Error('boom');
  });
  const res = await fetch(s.url, { method: 'POST', body: BODY });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /condition='internal-server-error'/);
});

test('B-136: secure and the client address come from the socket unless http.trustProxy', async (t) => {
  const headers = { 'X-Forwarded-For': '203.0.113.9, 198.51.100.7', 'X-Forwarded-Proto': 'https' };
  const direct = await start(t);
  await (await fetch(direct.url, { method: 'POST', headers, body: BODY })).arrayBuffer();
  assert.equal(direct.exchanges[0]!.remoteAddress, '127.0.0.1');
  assert.equal(direct.exchanges[0]!.secure, false);
  const proxied = await start(t, echo, { trustProxy: true });
  await (await fetch(proxied.url, { method: 'POST', headers, body: BODY })).arrayBuffer();
  assert.equal(proxied.exchanges[0]!.remoteAddress, '198.51.100.7');
  assert.equal(proxied.exchanges[0]!.secure, true);
});

test('close() waits for a held request to be answered, then resolves', async (t) => {
  let held: BoshExchange | undefined;
  const s = await start(t, (e) => {
    held = e;
    return undefined;
  });
  const response = raw(s.url, { body: BODY });
  while (!held) await new Promise((r) => setTimeout(r, 5));
  let closed = false;
  const closing = s.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(closed, false, 'still waiting for the held request');
  held.reply({ status: 200, contentType: XML, body: "<body type='terminate' condition='system-shutdown'/>" });
  const res = await response;
  assert.match(res.body.toString(), /system-shutdown/);
  assert.equal(res.headers.connection, 'close');
  await closing;
  await assert.rejects(fetch(s.url, { method: 'POST', body: BODY }));
});

test('close() gives up on requests never answered after closeTimeoutMs', async (t) => {
  const s = await start(t, () => undefined, {}, { closeTimeoutMs: 50 });
  const response = raw(s.url, { body: BODY });
  while (s.exchanges.length === 0) await new Promise((r) => setTimeout(r, 5));
  const t0 = Date.now();
  await s.close();
  assert.ok(Date.now() - t0 < 2000);
  await assert.rejects(response);
});

test('close() closes idle keep-alive connections at once', async (t) => {
  const s = await start(t);
  const res = await fetch(s.url, { method: 'POST', body: BODY });
  await res.arrayBuffer();
  const t0 = Date.now();
  await s.close();
  assert.ok(Date.now() - t0 < 1000);
});

test('an upload that goes on after the body limit is cut off after discardBytes', async (t) => {
  const s = await start(t, undefined, {}, { discardBytes: 100_000 });
  const { port, pathname } = new URL(s.url);
  const sent = await new Promise<number>((resolve) => {
    let total = 0;
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`POST ${pathname} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n`);
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = (): void => {
        while (!socket.destroyed && total < 50_000_000) {
          total += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(total));
  });
  assert.ok(sent < 50_000_000, `the server stopped reading (client wrote ${sent} bytes)`);
  assert.equal(s.exchanges[0]!.oversized, true);
});
