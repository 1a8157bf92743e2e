import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { DEFAULT_CONFIG, type CmConfig } from '../config.js';
import { createMemoryLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { createHttpServer } from './server.js';

const APP = 'https://app.example';

async function start(t: TestContext, http: Partial<CmConfig['http']> = {}, metrics: Partial<CmConfig['metrics']> = {}) {
  const config: CmConfig = {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0, ...http },
    metrics: { ...DEFAULT_CONFIG.metrics, ...metrics },
    cors: { origins: ['*'], maxAgeS: 600 },
  };
  const registry = new Metrics();
  registry.sessions.set(7);
  const { logger } = createMemoryLogger('debug');
  const handler = { handle: () => undefined };
  const server = createHttpServer(config, handler, logger, { metrics: registry });
  const address = await server.listen();
  t.after(() => server.close());
  return { ...address, metricsOnBosh: new URL(address.url).origin + '/metrics' };
}

/** A GET from `localAddress`, with `headers`. */
function get(url: string, localAddress = '127.0.0.1', headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, localAddress, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('metrics.allow: the page on the BOSH listener is served to loopback by default, 403 for others, never with CORS headers', async (t) => {
  const s = await start(t);
  const page = await get(s.metricsOnBosh, '127.0.0.1', { Origin: APP });
  assert.equal(page.status, 200);
  assert.match(page.text, /^sbosh_sessions 7$/m);
  assert.match(page.text, /^sbosh_http_connections 1$/m, 'this connection');
  assert.deepEqual(Object.keys(page.headers).filter((h) => h.startsWith('access-control-')), []);
  const preflight = await new Promise<number>((resolve) => {
    const req = httpRequest(s.metricsOnBosh, { method: 'OPTIONS', agent: false, headers: { Origin: APP, 'Access-Control-Request-Method': 'GET' } }, (res) => {
      assert.deepEqual(Object.keys(res.headers).filter((h) => h.startsWith('access-control-')), []);
      res.resume();
      resolve(res.statusCode!);
    });
    req.end();
  });
  assert.equal(preflight, 405, 'no CORS preflight answer either');
  const other = await get(s.metricsOnBosh, '127.0.0.2');
  assert.equal(other.status, 403);
  assert.doesNotMatch(other.text, /sbosh_/);
});

test('metrics.allow: CIDR blocks; with http.trustProxy the forwarded address counts', async (t) => {
  const cidr = await start(t, {}, { allow: ['127.0.0.2/31'] });
  assert.equal((await get(cidr.metricsOnBosh, '127.0.0.2')).status, 200);
  assert.equal((await get(cidr.metricsOnBosh, '127.0.0.3')).status, 200);
  assert.equal((await get(cidr.metricsOnBosh, '127.0.0.1')).status, 403);
  const proxied = await start(t, { trustProxy: true });
  assert.equal((await get(proxied.metricsOnBosh, '127.0.0.1', { 'X-Forwarded-For': '203.0.113.9' })).status, 403, 'a client behind our proxy');
  assert.equal((await get(proxied.metricsOnBosh, '127.0.0.1')).status, 200, 'a scraper on loopback, not through the proxy');
});

test('metrics.port: the page moves to its own listener; the BOSH listener no longer serves it', async (t) => {
  const s = await start(t, {}, { port: 0 });
  assert.ok(s.metricsUrl, 'listen() reports the metrics URL');
  assert.match(s.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const page = await get(s.metricsUrl);
  assert.equal(page.status, 200);
  assert.match(page.text, /^sbosh_sessions 7$/m);
  assert.equal((await get(s.metricsOnBosh)).status, 404);
  assert.equal((await get(new URL(s.metricsUrl).origin + '/http-bind')).status, 404, 'the metrics listener serves nothing else');
  assert.equal((await get(s.metricsUrl, '127.0.0.2')).status, 403, 'metrics.allow applies there too');
});
