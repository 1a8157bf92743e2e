import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { until } from '../../test/support/until.js';
import type { BoshExchange } from '../bosh/exchange.js';
import { DEFAULT_CONFIG, type CmConfig } from '../config.js';
import { createMemoryLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { createHttpServer, type HttpServerOptions } from './server.js';

/**
 * Hostile clients over real sockets on 127.0.0.1 (issue 11): connection and request limits per
 * address and in all, timeouts for requests that never arrive completely, and the held request
 * that these must leave alone. A second client address is 127.0.0.2 (`localAddress`).
 */

const XML = 'text/xml; charset=utf-8';
const BODY = "<body rid='1' xmlns='http://jabber.org/protocol/httpbind' to='localhost'/>";
const OTHER = '127.0.0.2';

interface Started {
  url: string;
  port: number;
  held: BoshExchange[];
  lines: string[];
  metrics: Metrics;
}

/** The server, where every POST whose body is 'hold' is held until the test answers it. */
async function start(t: TestContext, http: Partial<CmConfig['http']>, options: HttpServerOptions = {}): Promise<Started> {
  const config: CmConfig = { ...DEFAULT_CONFIG, http: { ...DEFAULT_CONFIG.http, port: 0, ...http } };
  const held: BoshExchange[] = [];
  const metrics = new Metrics();
  const { logger, lines } = createMemoryLogger('debug');
  const handler = {
    handle(exchange: BoshExchange) {
      if (exchange.body === 'hold') held.push(exchange);
      else exchange.reply({ status: 200, contentType: XML, body: '<body/>' });
    },
  };
  const server = createHttpServer(config, handler, logger, { metrics, ...options });
  const { url } = await server.listen();
  t.after(() => server.close());
  return { url, port: Number(new URL(url).port), held, lines, metrics };
}

/** One POST on its own connection, from `localAddress`. */
function post(url: string, body = BODY, localAddress = '127.0.0.1'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent: false, localAddress }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A TCP connection, once established; closed when the test ends. */
async function open(t: TestContext, port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  t.after(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

/** Everything the server sent until it closed the connection, and how long that took (ms). */
function closedBy(socket: Socket): Promise<{ data: string; afterMs: number }> {
  const t0 = Date.now();
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString()));
  return new Promise((resolve) => socket.once('close', () => resolve({ data, afterMs: Date.now() - t0 })));
}

/** A request on an open keep-alive socket: its status line, or 'closed' when the server closed it. */
function ask(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve('closed');
    socket.once('data', (c: Buffer) => resolve(c.toString().split('\r\n')[0]!));
    socket.once('close', () => resolve('closed'));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
  });
}

async function refused(metrics: Metrics, reason: string): Promise<number> {
  const value = (await metrics.httpRefused.get()).values.find((v) => v.labels.reason === reason);
  return value?.value ?? 0;
}

test('http.maxConnectionsPerAddress: of 6 connections from an address limited to 5, one is closed; another address is still served', async (t) => {
  const s = await start(t, { maxConnectionsPerAddress: 5 });
  const path = new URL(s.url).pathname;
  const six = await Promise.all([1, 2, 3, 4, 5, 6].map(() => open(t, s.port)));
  const answers = await Promise.all(six.map((socket) => ask(socket, path)));
  assert.deepEqual(answers.filter((a) => a === 'closed').length, 1, answers.join(', '));
  assert.deepEqual(answers.filter((a) => a === 'HTTP/1.1 200 OK').length, 5, answers.join(', '));
  assert.equal((await post(s.url, BODY, OTHER)).status, 200, 'another address is served');
  assert.equal(await refused(s.metrics, 'connections-per-address'), 1);
  assert.equal(s.lines.filter((l) => l.includes('"reason":"connections-per-address"')).length, 1);
  // A slot freed by a closed connection is usable again, once the server has seen the close.
  six.find((socket) => !socket.destroyed)!.destroy();
  let again = 'closed';
  for (let i = 0; i < 50 && again === 'closed'; i++) again = await ask(await open(t, s.port), path);
  assert.equal(again, 'HTTP/1.1 200 OK');
});

test('http.maxConnections and the descriptor budget: connections beyond them are closed at once', async (t) => {
  const capped = await start(t, { maxConnections: 3, maxConnectionsPerAddress: 0 });
  const path = new URL(capped.url).pathname;
  const four = await Promise.all([OTHER, '127.0.0.1', OTHER, '127.0.0.1'].map((from) => open(t, capped.port, from)));
  const answers = await Promise.all(four.map((socket) => ask(socket, path)));
  assert.deepEqual(answers.filter((a) => a === 'closed').length, 1, answers.join(', '));
  assert.equal(await refused(capped.metrics, 'connections'), 1);

  // 10 descriptors, 5 reserved, 2 upstream links: 3 client connections.
  const budget = await start(t, { maxOpenFiles: 10, reservedFiles: 5, maxConnectionsPerAddress: 0 }, { upstreamLinks: () => 2 });
  const sockets = await Promise.all([1, 2, 3, 4].map(() => open(t, budget.port)));
  const results = await Promise.all(sockets.map((socket) => ask(socket, path)));
  assert.deepEqual(results.filter((a) => a === 'closed').length, 1, results.join(', '));
  assert.equal(await refused(budget.metrics, 'connections'), 1);
});

test('http.maxRequestsPerAddress: a request beyond the held ones of its address gets 429; another address is served', async (t) => {
  const s = await start(t, { maxRequestsPerAddress: 2 });
  const first = post(s.url, 'hold');
  const second = post(s.url, 'hold');
  await until(() => s.held.length === 2, 'two held requests');
  const third = await post(s.url, 'hold');
  assert.equal(third.status, 429);
  assert.equal((await post(s.url, BODY, OTHER)).status, 200, 'another address is served');
  s.held[0]!.reply({ status: 200, contentType: XML, body: '<body/>' });
  assert.equal((await first).status, 200);
  assert.equal((await post(s.url)).status, 200, 'a slot freed by an answered request is usable again');
  s.held[1]!.reply({ status: 200, contentType: XML, body: '<body/>' });
  await second;
  assert.equal(await refused(s.metrics, 'requests-per-address'), 1);
});

test('http.requestTimeoutS: a body trickled one byte at a time is answered 408 and closed', async (t) => {
  const s = await start(t, { headersTimeoutS: 1, requestTimeoutS: 1 });
  const socket = await open(t, s.port);
  socket.write(`POST ${new URL(s.url).pathname} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`);
  const trickle = setInterval(() => socket.write('x'), 200);
  t.after(() => clearInterval(trickle));
  const { data, afterMs } = await closedBy(socket);
  assert.match(data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.ok(afterMs < 4000, `closed after ${afterMs} ms`);
  assert.equal(await refused(s.metrics, 'timeout'), 1);
});

test('http.headersTimeoutS: a connection that sends nothing, or trickles its headers, is answered 408 and closed', async (t) => {
  const s = await start(t, { headersTimeoutS: 1, requestTimeoutS: 2, idleTimeoutS: 60 });
  const silent = closedBy(await open(t, s.port));
  const slow = await open(t, s.port);
  slow.write('POST / HTTP/1.1\r\n');
  const trickle = setInterval(() => slow.write('X-A: b\r\n'), 200);
  t.after(() => clearInterval(trickle));
  for (const { data, afterMs } of await Promise.all([silent, closedBy(slow)])) {
    assert.match(data, /^HTTP\/1\.1 408 /);
    assert.ok(afterMs < 4000, `closed after ${afterMs} ms`);
  }
});

test('a held request whose body is complete is not cut by the request, headers or idle timeouts', async (t) => {
  const s = await start(t, { headersTimeoutS: 1, requestTimeoutS: 1, idleTimeoutS: 1 });
  const answer = post(s.url, 'hold');
  await until(() => s.held.length === 1, 'the held request');
  await new Promise((r) => setTimeout(r, 2500));
  s.held[0]!.reply({ status: 200, contentType: XML, body: '<body>late</body>' });
  assert.deepEqual(await answer, { status: 200, text: '<body>late</body>' });
  assert.equal(await refused(s.metrics, 'timeout'), 0);
});
