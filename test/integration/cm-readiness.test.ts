import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../../src/config.js';
import { createMemoryLogger } from '../../src/log.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';

/**
 * What the readiness probe reports, through the whole CM: the upstream check over STARTTLS to the
 * scripted server (verified against its CA), a server that goes away, and shutting down.
 */
test('readiness: ready once every served domain passed the check, not ready when a server is down or the CM is stopping', async (t) => {
  const server = await ScriptedXmppServer.start({ starttls: 'required' });
  t.after(() => server.close());
  const config: CmConfig = {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0, trustProxy: true },
    domains: {
      [server.domain]: await server.domainConfig('required'),
      'down.example': { host: '127.0.0.1', port: 1, tls: 'off', insecure: false },
    },
    upstream: { ...DEFAULT_CONFIG.upstream, checkIntervalS: 0 },
  };
  const cm = createConnectionManager(config, { logger: createMemoryLogger('silent').logger });
  const { url } = await cm.start();
  const probe = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(new URL(path, url), { headers });
    return { status: res.status, body: await res.text(), cors: res.headers.get('access-control-allow-origin'), cache: res.headers.get('cache-control') };
  };
  let stopped = false;
  t.after(() => (stopped ? undefined : cm.stop()));
  assert.deepEqual(cm.readiness(), { ready: true, lines: ['upstream servers not monitored'] });

  const results = await cm.monitorUpstreams();
  assert.deepEqual(results.map((r) => r.ok), [true, false]);
  assert.equal(results[0]!.line, `domain ${server.domain}: OK (STARTTLS, certificate valid for ${server.domain})`);
  assert.equal(server.connections.at(-1)!.secured, true, 'the check negotiated STARTTLS');
  const down = cm.readiness();
  assert.equal(down.ready, false);
  assert.match(down.lines[1]!, /^domain down\.example: FAILED: could not connect to down\.example: connect ECONNREFUSED 127\.0\.0\.1:1: /);

  // Over HTTP: the status for everyone, the lines only for metrics.allow (loopback by default),
  // no CORS headers even for a browser's Origin, never cached.
  const local = await probe('/readyz', { origin: 'https://app.example' });
  assert.deepEqual(local, { status: 503, body: ['not ready', ...down.lines].join('\n') + '\n', cors: null, cache: 'no-store' });
  const remote = await probe('/readyz', { 'x-forwarded-for': '203.0.113.9' });
  assert.deepEqual([remote.status, remote.body], [503, 'not ready\n']);
  assert.deepEqual([(await probe('/healthz')).status, (await probe('/healthz')).body], [200, 'ok\n']);

  await cm.stop();
  stopped = true;
  assert.deepEqual(cm.readiness(), { ready: false, lines: ['shutting down'] });
});
