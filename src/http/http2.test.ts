import { test, type TestContext } from 'node:test';
import { rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect as h2connect, constants as h2, type ClientHttp2Session, type IncomingHttpHeaders as H2Headers } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createTestCertificate } from '../../test/support/certs.js';
import { until } from '../../test/support/until.js';
import type { BoshExchange, BoshReply } from '../bosh/exchange.js';
import { DEFAULT_CONFIG, type CmConfig } from '../config.js';
import { createMemoryLogger } from '../log.js';
import { createHttpServer, type HttpServerOptions } from './server.js';

/** The BOSH endpoint over TLS: HTTP/2 (ALPN h2) and HTTP/1.1 on one port, one request path for both. */

const APP = 'https://app.example';
const XML = 'text/xml; charset=utf-8';
const BODY = "<body rid='1' xmlns='http://jabber.org/protocol/httpbind' to='localhost'/>";
/** Headers HTTP/2 forbids (RFC 9113 §8.2.2); node would drop them with a warning. */
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

interface TlsFiles {
  ca: string;
  certFile: string;
  keyFile: string;
}

let files: Promise<TlsFiles> | undefined;
/** A throwaway CA and a certificate for localhost and 127.0.0.1, as PEM files (once per process). */
function tlsFiles(): Promise<TlsFiles> {
  files ??= (async () => {
    const pem = await createTestCertificate(['localhost']);
    const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-h2-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true })); // synchronous: 'exit' runs no async work
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    await writeFile(certFile, pem.cert);
    await writeFile(keyFile, pem.key);
    return { ca: pem.ca, certFile, keyFile };
  })();
  return files;
}

type Answer = (exchange: BoshExchange) => BoshReply | undefined;
const echo: Answer = (e) => ({ status: 200, contentType: XML, body: `<body xmlns='http://jabber.org/protocol/httpbind'>${e.body.length}</body>` });

interface Started {
  url: string;
  ca: string;
  exchanges: BoshExchange[];
  lines: string[];
  close: () => Promise<void>;
}

async function start(t: TestContext, answer: Answer = echo, http: Partial<CmConfig['http']> = {}, options: HttpServerOptions = {}): Promise<Started> {
  const { ca, certFile, keyFile } = await tlsFiles();
  const config: CmConfig = {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0, maxBodyBytes: 10_000, compressMinBytes: 100, tls: { certFile, keyFile }, ...http },
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
  return { url, ca, exchanges, lines, close: () => server.close() };
}

/** An HTTP/2 client session to the server of `url`, once TLS and ALPN are done. */
async function connectH2(t: TestContext, url: string, ca: string): Promise<ClientHttp2Session> {
  const session = h2connect(new URL(url).origin, { ca });
  t.after(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

interface H2Response {
  status: number;
  headers: H2Headers;
  body: Buffer;
}

/** One request on an HTTP/2 session; the body as it came (no decoding). Rejects when no response came. */
function h2request(
  session: ClientHttp2Session,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const { pathname, search } = new URL(url);
    const stream = session.request({ ':method': options.method ?? 'POST', ':path': pathname + search, ...options.headers });
    let headers: H2Headers = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (headers[':status'] === undefined) reject(new Error('the stream ended without a response'));
      else resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) });
    });
    stream.on('close', () => reject(new Error(`the stream closed (RST_STREAM code ${stream.rstCode})`)));
    stream.on('error', reject);
    stream.end(options.body);
  });
}

interface Https1Response {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  body: Buffer;
  alpn: string | false | null;
}

/** One HTTPS/1.1 request on its own connection, offering `alpn` (none: no ALPN extension at all). */
function https1(url: string, ca: string, body: string, alpn?: string[]): Promise<Https1Response> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', ca, agent: false, ...(alpn ? { ALPNProtocols: alpn } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), alpn: (res.socket as TLSSocket).alpnProtocol }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('HTTP/2: listen() reports an https:// URL; a POST over ALPN h2 is answered with Content-Length and no connection-specific headers', async (t) => {
  const s = await start(t);
  assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+\/http-bind$/);
  const session = await connectH2(t, s.url, s.ca);
  assert.equal(session.alpnProtocol, 'h2');
  const res = await h2request(session, s.url, { body: BODY, headers: { 'content-type': XML } });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), `<body xmlns='http://jabber.org/protocol/httpbind'>${BODY.length}</body>`);
  assert.equal(res.headers['content-type'], XML);
  assert.equal(Number(res.headers['content-length']), res.body.length, 'B-05: Content-Length over HTTP/2 too');
  assert.equal(res.headers['cache-control'], 'no-store');
  for (const name of CONNECTION_SPECIFIC) assert.equal(res.headers[name], undefined, name);
  assert.equal(s.exchanges[0]!.body, BODY);
  assert.ok(s.lines.some((l) => l.includes('listening for BOSH requests') && l.includes('"h2"')));
});

test('B-136 HTTP/2: exchange.secure is true, and the client address is the TLS peer', async (t) => {
  const s = await start(t);
  const session = await connectH2(t, s.url, s.ca);
  await h2request(session, s.url, { body: BODY });
  await https1(s.url, s.ca, BODY, ['http/1.1']);
  assert.deepEqual(s.exchanges.map((e) => [e.secure, e.remoteAddress]), [[true, '127.0.0.1'], [true, '127.0.0.1']]);
});

test('HTTP/2: 20 held requests on ONE connection all stay open, and all are answered when the handler replies', async (t) => {
  const held: BoshExchange[] = [];
  const s = await start(t, (e) => {
    held.push(e);
    return undefined;
  });
  const session = await connectH2(t, s.url, s.ca);
  const settled = new Set<number>();
  const responses = Array.from({ length: 20 }, (_, i) =>
    h2request(session, s.url, { body: `<body rid='${i}'/>` }).finally(() => settled.add(i)),
  );
  // Far beyond a browser's 6 HTTP/1.1 connections per host: all 20 reach the handler at once.
  await until(() => held.length === 20, '20 held requests');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled.size, 0, 'every request is still held');
  assert.equal(session.destroyed, false);
  for (const e of [...held].reverse()) e.reply({ status: 200, contentType: XML, body: `<body>${e.body}</body>` });
  const bodies = (await Promise.all(responses)).map((r) => r.body.toString());
  assert.deepEqual(bodies, Array.from({ length: 20 }, (_, i) => `<body><body rid='${i}'/></body>`), 'each reply on its own stream');
});

test('HTTPS/1.1 on the same port: with ALPN http/1.1 and without ALPN', async (t) => {
  const s = await start(t);
  for (const alpn of [['http/1.1'], undefined]) {
    const res = await https1(s.url, s.ca, BODY, alpn);
    assert.equal(res.status, 200);
    assert.equal(res.alpn, alpn ? 'http/1.1' : false);
    assert.equal(res.body.toString(), `<body xmlns='http://jabber.org/protocol/httpbind'>${BODY.length}</body>`);
    assert.equal(Number(res.headers['content-length']), res.body.length);
    assert.equal(res.headers['transfer-encoding'], undefined);
  }
  assert.equal(s.exchanges.length, 2);
});

test('http.http2 false: HTTPS over HTTP/1.1 only; an h2-only client is refused at ALPN', async (t) => {
  const s = await start(t, echo, { http2: false });
  assert.match(s.url, /^https:\/\//);
  const res = await https1(s.url, s.ca, BODY, ['h2', 'http/1.1']);
  assert.equal(res.alpn, 'http/1.1');
  assert.equal(s.exchanges[0]!.secure, true);
  const session = h2connect(new URL(s.url).origin, { ca: s.ca });
  t.after(() => session.destroy());
  await assert.rejects(
    new Promise((resolve, reject) => {
      session.once('connect', resolve);
      session.once('error', reject);
    }),
    /no application protocol/i,
  );
});

test('B-06 HTTP/2: CORS headers and gzip both ways, as over HTTP/1.1', async (t) => {
  const long = `<body xmlns='http://jabber.org/protocol/httpbind'>${'<message/>'.repeat(50)}</body>`;
  const s = await start(t, () => ({ status: 200, contentType: XML, body: long }));
  const session = await connectH2(t, s.url, s.ca);

  const res = await h2request(session, s.url, {
    body: gzipSync(BODY),
    headers: { origin: APP, 'accept-encoding': 'gzip, deflate', 'content-encoding': 'gzip' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers['access-control-allow-origin'], APP);
  assert.equal(res.headers.vary, 'Accept-Encoding, Origin');
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.equal(Number(res.headers['content-length']), res.body.length);
  assert.equal(gunzipSync(res.body).toString(), long);
  assert.equal(s.exchanges[0]!.body, BODY, 'the gzip request body was decoded');
  assert.equal(s.exchanges[0]!.origin, APP);

  const preflight = await h2request(session, s.url, {
    method: 'OPTIONS',
    headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], APP);
  assert.equal(preflight.headers['access-control-allow-methods'], 'POST, OPTIONS');
  assert.equal(preflight.headers['access-control-max-age'], '600');

  const foreign = await h2request(session, s.url, { body: BODY, headers: { origin: 'https://evil.example' } });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  assert.equal(s.exchanges.length, 1, 'the foreign POST never reached the handler');
});

test('HTTP/2: GET, HEAD, 404 and 405 are answered as over HTTP/1.1', async (t) => {
  const s = await start(t);
  const session = await connectH2(t, s.url, s.ca);
  const get = await h2request(session, s.url, { method: 'GET' });
  assert.equal(get.status, 200);
  assert.match(get.body.toString(), /BOSH endpoint/);
  const head = await h2request(session, s.url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(Number(head.headers['content-length']), get.body.length);
  const put = await h2request(session, s.url, { method: 'PUT', body: 'x' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.allow, 'GET, HEAD, POST, OPTIONS');
  const other = await h2request(session, new URL('/elsewhere', s.url).href, { body: BODY });
  assert.equal(other.status, 404);
  assert.equal(s.exchanges.length, 0);
});

test('HTTP/2: an oversized upload gets its reply, then only its stream is reset; the connection goes on', async (t) => {
  const s = await start(t, () => ({ status: 200, contentType: XML, body: "<body type='terminate' condition='policy-violation'/>" }), {}, { discardBytes: 50_000 });
  const session = await connectH2(t, s.url, s.ca);
  const stream = session.request({ ':method': 'POST', ':path': new URL(s.url).pathname });
  const reply = new Promise<{ headers: H2Headers; body: string }>((resolve) => {
    let headers: H2Headers = {};
    let body = '';
    stream.on('response', (h) => (headers = h));
    stream.on('data', (c: Buffer) => (body += c.toString()));
    stream.on('end', () => resolve({ headers, body }));
  });
  const reset = new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
  stream.on('error', () => undefined);
  const chunk = Buffer.alloc(16 * 1024, 'x');
  let sent = 0;
  const pump = (): void => {
    while (!stream.destroyed && !stream.closed && sent < 2_000_000) {
      sent += chunk.length;
      if (!stream.write(chunk)) return void stream.once('drain', pump);
    }
  };
  pump();
  const { headers, body } = await reply;
  assert.equal(headers[':status'], 200);
  assert.match(body, /policy-violation/);
  assert.equal(headers.connection, undefined);
  assert.equal(await reset, h2.NGHTTP2_NO_ERROR, 'RST_STREAM NO_ERROR: the reply is complete (RFC 9113 §8.1)');
  assert.ok(sent < 2_000_000, `the server stopped reading (client wrote ${sent} bytes)`);
  assert.equal(s.exchanges[0]!.oversized, true);
  const next = await h2request(session, s.url, { body: BODY });
  assert.equal(next.status, 200, 'the session is still usable');
});

test('HTTP/2: a request reset by the client mid-body never reaches the handler', async (t) => {
  const s = await start(t);
  const session = await connectH2(t, s.url, s.ca);
  const stream = session.request({ ':method': 'POST', ':path': new URL(s.url).pathname });
  stream.on('error', () => undefined);
  stream.write("<body rid='1' xmlns='http://jabber.org/protocol/httpbind'>");
  await new Promise((r) => setTimeout(r, 50));
  stream.destroy();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.exchanges.length, 0);
  assert.ok(s.lines.some((l) => l.includes('client went away before its request body was complete')));
});

test('close() sends GOAWAY to an idle HTTP/2 session and resolves at once', async (t) => {
  const s = await start(t);
  const session = await connectH2(t, s.url, s.ca);
  await h2request(session, s.url, { body: BODY });
  const ended = new Promise<void>((resolve) => session.once('close', () => resolve()));
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  session.on('error', () => undefined);
  const t0 = Date.now();
  await s.close();
  assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
  await goaway;
  await ended;
});

test('close() lets a held HTTP/2 request be answered, then ends the session', async (t) => {
  let held: BoshExchange | undefined;
  const s = await start(t, (e) => {
    held = e;
    return undefined;
  });
  const session = await connectH2(t, s.url, s.ca);
  session.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => session.once('close', () => resolve()));
  const response = h2request(session, s.url, { body: BODY });
  await until(() => held !== undefined, 'the held request');
  let closed = false;
  const closing = s.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(closed, false, 'still waiting for the held request');
  held!.reply({ status: 200, contentType: XML, body: "<body type='terminate' condition='system-shutdown'/>" });
  const res = await response;
  assert.match(res.body.toString(), /system-shutdown/);
  assert.equal(res.headers.connection, undefined);
  await closing;
  await ended;
});

test('close() destroys HTTP/2 sessions whose requests are never answered, after closeTimeoutMs', async (t) => {
  const s = await start(t, () => undefined, {}, { closeTimeoutMs: 50 });
  const session = await connectH2(t, s.url, s.ca);
  session.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => session.once('close', () => resolve()));
  const response = h2request(session, s.url, { body: BODY });
  await until(() => s.exchanges.length === 1, 'the held request');
  const t0 = Date.now();
  await s.close();
  assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
  await assert.rejects(response);
  await ended;
});

test('close() also closes HTTPS/1.1 keep-alive connections of the HTTP/2 server', async (t) => {
  const s = await start(t);
  const { Agent } = await import('node:https');
  const agent = new Agent({ keepAlive: true, ca: s.ca });
  t.after(() => agent.destroy());
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(s.url, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(BODY);
  });
  assert.equal(status, 200);
  const t0 = Date.now();
  await s.close();
  assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
});

test('http.requestTimeoutS HTTP/2: a trickled stream gets 408 and is reset; the session goes on', async (t) => {
  const s = await start(t, echo, { requestTimeoutS: 1, headersTimeoutS: 1 });
  const session = await connectH2(t, s.url, s.ca);
  const stream = session.request({ ':method': 'POST', ':path': new URL(s.url).pathname });
  stream.on('error', () => undefined);
  stream.resume();
  const trickle = setInterval(() => stream.write('x'), 200);
  t.after(() => clearInterval(trickle));
  const t0 = Date.now();
  const reset = new Promise<void>((resolve) => stream.once('aborted', () => resolve()));
  const status = await new Promise<unknown>((resolve) => stream.once('response', (h) => resolve(h[':status'])));
  await reset;
  clearInterval(trickle);
  assert.equal(status, 408);
  assert.ok(Date.now() - t0 < 4000, `answered after ${Date.now() - t0} ms`);
  assert.equal(s.exchanges.length, 0, 'the BOSH layer never saw it');
  assert.equal((await h2request(session, s.url, { body: BODY })).status, 200, 'the session is still usable');
});

test('http.requestTimeoutS HTTP/2: streams started at different times each get 408 at their own deadline; a completed one is not timed', async (t) => {
  const s = await start(t, echo, { requestTimeoutS: 1, headersTimeoutS: 1 });
  const session = await connectH2(t, s.url, s.ca);
  const path = new URL(s.url).pathname;
  const t0 = Date.now();
  /** A stream that trickles its body: when its 408 came, after the start of the test. */
  const trickled = (): Promise<{ status: unknown; at: number; startedAt: number }> => {
    const startedAt = Date.now() - t0;
    const stream = session.request({ ':method': 'POST', ':path': path });
    stream.on('error', () => undefined);
    stream.resume();
    const trickle = setInterval(() => stream.write('x'), 100);
    t.after(() => clearInterval(trickle));
    return new Promise((resolve) => stream.once('response', (h) => {
      clearInterval(trickle);
      resolve({ status: h[':status'], at: Date.now() - t0, startedAt });
    }));
  };
  const first = trickled();
  // A request whose body completes in time, between them: answered, never timed out.
  await new Promise((r) => setTimeout(r, 300));
  const complete = h2request(session, s.url, { body: BODY });
  await new Promise((r) => setTimeout(r, 400));
  const second = trickled();
  const [a, b, c] = await Promise.all([first, second, complete]);
  assert.equal(c.status, 200);
  for (const r of [a, b]) {
    assert.equal(r.status, 408);
    const after = r.at - r.startedAt;
    assert.ok(after >= 900 && after < 2500, `408 came ${after} ms after the stream started`);
  }
  assert.ok(b.at - a.at >= 500, `the later stream timed out later (${a.at} and ${b.at} ms)`);
  assert.equal((await h2request(session, s.url, { body: BODY })).status, 200, 'the session is still usable');
  assert.deepEqual(s.exchanges.map((e) => e.body), [BODY, BODY], 'the BOSH layer saw the complete requests only');
});

test('HTTP/2: a held request is not cut by http.requestTimeoutS or http.idleTimeoutS; an idle session is closed', async (t) => {
  let held: BoshExchange | undefined;
  const s = await start(t, (e) => {
    if (e.body === 'hold') held = e;
    else return echo(e);
    return undefined;
  }, { requestTimeoutS: 1, headersTimeoutS: 1, idleTimeoutS: 1 });
  const session = await connectH2(t, s.url, s.ca);
  let goaway = false;
  session.on('goaway', () => (goaway = true));
  const answer = h2request(session, s.url, { body: 'hold' });
  await until(() => held !== undefined, 'the held request');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(goaway, false, 'a session with a held request is not idle');
  held!.reply({ status: 200, contentType: XML, body: '<body>late</body>' });
  assert.equal((await answer).body.toString(), '<body>late</body>');
  const t0 = Date.now();
  await new Promise<void>((resolve) => session.once('close', () => resolve()));
  assert.ok(Date.now() - t0 < 4000, `the idle session closed after ${Date.now() - t0} ms`);
});
