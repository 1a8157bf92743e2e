import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpstreams, UpstreamMonitor, type OpenUpstream } from './check.js';
import { DEFAULT_CONFIG, type CmConfig } from './config.js';
import { createMemoryLogger } from './log.js';
import { Element } from './xml/element.js';
import type { UpstreamEnd, UpstreamSink } from './xmpp/types.js';
import { FakeClock } from '../test/support/fake-clock.js';

/** An opener whose outcome per domain the test sets; records how many streams were opened and closed. */
function scriptedOpen(outcomes: Map<string, 'open' | UpstreamEnd>) {
  const stats = { opened: 0, closed: 0 };
  const open: OpenUpstream = (options, sink: UpstreamSink) => {
    stats.opened++;
    const outcome = outcomes.get(options.domain)!;
    queueMicrotask(() => {
      if (outcome === 'open') sink.onStreamOpen({ id: 'x', from: options.domain, version: '1.0' });
      else sink.onEnd(outcome);
    });
    return { send() {}, restart() {}, markBound() {}, close: () => void stats.closed++ };
  };
  return { open, stats };
}

function config(intervalS: number): CmConfig {
  return {
    ...DEFAULT_CONFIG,
    domains: {
      'a.example': { tls: 'required', insecure: false },
      'b.example': { host: '127.0.0.1', port: 15222, tls: 'off', insecure: false },
    },
    upstream: { ...DEFAULT_CONFIG.upstream, checkIntervalS: intervalS },
  };
}

test('check: one line per domain, OK with how it is secured, or the failure with the setting that fixes it; a passed check closes its stream', async () => {
  const { open, stats } = scriptedOpen(new Map<string, 'open' | UpstreamEnd>([
    ['a.example', 'open'],
    ['b.example', { kind: 'connect-failed', error: new Error('could not connect to b.example: connect ECONNREFUSED 127.0.0.1:15222') }],
  ]));
  const results = await checkUpstreams(config(0), { logger: createMemoryLogger().logger, clock: new FakeClock(), open });
  assert.deepEqual(results.map((r) => r.line), [
    'domain a.example: OK (STARTTLS, certificate valid for a.example)',
    'domain b.example: FAILED: could not connect to b.example: connect ECONNREFUSED 127.0.0.1:15222: is the XMPP server running there? set --upstream-host/--upstream-port (domains.b.example.host/port)',
  ]);
  assert.deepEqual(results.map((r) => r.ok), [true, false]);
  assert.equal(stats.closed, 1);
});

test('check: a stream error before the stream opens is named (host-unknown: the server does not serve the domain)', async () => {
  const error = new Element('stream:error', {}, [new Element('host-unknown', { xmlns: 'urn:ietf:params:xml:ns:xmpp-streams' }, [])]);
  const { open } = scriptedOpen(new Map<string, 'open' | UpstreamEnd>([['a.example', { kind: 'stream-error', error }], ['b.example', 'open']]));
  const [a] = await checkUpstreams(config(0), { logger: createMemoryLogger().logger, clock: new FakeClock(), open });
  assert.equal(a!.line, 'domain a.example: FAILED: the server answered with the stream error <host-unknown/>: that server does not serve a.example; check --upstream-host (domains.a.example.host)');
});

test('check: the monitor is not ready before its first check, reports the last one, re-checks every checkIntervalS and logs changes once', async () => {
  const outcomes = new Map<string, 'open' | UpstreamEnd>([['a.example', 'open'], ['b.example', 'open']]);
  const { open, stats } = scriptedOpen(outcomes);
  const clock = new FakeClock();
  const memory = createMemoryLogger('info');
  const monitor = new UpstreamMonitor(config(30), { logger: memory.logger, clock, open });
  assert.deepEqual(monitor.readiness(), { ready: false, lines: ['upstream check not done yet'] });
  await monitor.start();
  assert.equal(monitor.readiness().ready, true);
  assert.equal(stats.opened, 2);

  outcomes.set('b.example', { kind: 'connect-failed', error: new Error('connecting to b.example timed out after 15000 ms') });
  clock.tick(29_999);
  assert.equal(stats.opened, 2);
  clock.tick(1);
  assert.equal(stats.opened, 4);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(monitor.readiness().ready, false);
  assert.match(monitor.readiness().lines[1]!, /^domain b\.example: FAILED: connecting to b\.example timed out/);
  clock.tick(30_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(memory.lines.filter((l) => l.includes('FAILED')).length, 1, 'a failure is logged once, not at every check');

  outcomes.set('b.example', 'open');
  clock.tick(30_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(monitor.readiness().ready, true);
  assert.equal(memory.lines.filter((l) => l.includes('domain b.example: OK')).length, 1, 'the recovery is logged');

  monitor.stop();
  const before = stats.opened;
  clock.tick(120_000);
  assert.equal(stats.opened, before);
});

test('check: an opener that throws is a failed check, not a crash', async () => {
  const open: OpenUpstream = () => {
    throw new Error('boom');
  };
  const results = await checkUpstreams(config(0), { logger: createMemoryLogger().logger, clock: new FakeClock(), open });
  assert.deepEqual(results.map((r) => r.line), ['domain a.example: FAILED: the check itself failed (boom)', 'domain b.example: FAILED: the check itself failed (boom)']);
});
