import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthReply, type Readiness } from './health.js';

const PATHS = { healthPath: '/healthz', readyPath: '/readyz' };

test('health: the liveness path answers 200 ok, never cached, with no CORS headers', () => {
  const reply = healthReply('/healthz', 'GET', PATHS, () => ({ ready: false, lines: [] }), false)!;
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'ok\n');
  assert.equal(reply.headers['Cache-Control'], 'no-store');
  assert.deepEqual(Object.keys(reply.headers).filter((h) => /^access-control-/i.test(h)), []);
});

test('health: readiness is 200 with the per-domain lines when every upstream passed, else 503 with them', () => {
  let state: Readiness = { ready: true, lines: ['domain a.example: OK (no TLS)'] };
  const ready = healthReply('/readyz', 'GET', PATHS, () => state, false)!;
  assert.equal(ready.status, 200);
  assert.equal(ready.body, 'ready\ndomain a.example: OK (no TLS)\n');
  state = { ready: false, lines: ['domain a.example: FAILED: connection refused'] };
  const notReady = healthReply('/readyz', 'HEAD', PATHS, () => state, false)!;
  assert.equal(notReady.status, 503);
  assert.equal(notReady.body, 'not ready\ndomain a.example: FAILED: connection refused\n');
});

test('health: while shutting down the process is alive but not ready', () => {
  assert.equal(healthReply('/healthz', 'GET', PATHS, () => ({ ready: true, lines: [] }), true)!.status, 200);
  const reply = healthReply('/readyz', 'GET', PATHS, () => ({ ready: true, lines: [] }), true)!;
  assert.equal(reply.status, 503);
  assert.match(reply.body, /shutting down/);
});

test("health: other paths are not probes; '' turns a probe off; only GET and HEAD", () => {
  assert.equal(healthReply('/http-bind', 'GET', PATHS, undefined, false), undefined);
  assert.equal(healthReply('/healthz', 'GET', { ...PATHS, healthPath: '' }, undefined, false), undefined);
  assert.equal(healthReply('/readyz', 'GET', { ...PATHS, readyPath: '' }, undefined, false), undefined);
  const post = healthReply('/readyz', 'POST', PATHS, undefined, false)!;
  assert.equal(post.status, 405);
  assert.equal(post.headers.Allow, 'GET, HEAD');
});
