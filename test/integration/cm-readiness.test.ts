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
    http: { ...DEFAULT_CONFIG.http, port: 0 },
    domains: {
      [server.domain]: await server.domainConfig('required'),
      'down.example': { host: '127.0.0.1', port: 1, tls: 'off', insecure: false },
    },
    upstream: { ...DEFAULT_CONFIG.upstream, checkIntervalS: 0 },
  };
  const cm = createConnectionManager(config, { logger: createMemoryLogger('silent').logger });
  await cm.start();
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

  await cm.stop();
  stopped = true;
  assert.deepEqual(cm.readiness(), { ready: false, lines: ['shutting down'] });
});
