import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkRegistry } from './link-registry.js';
import { Metrics } from '../metrics.js';
import { createMemoryLogger } from '../log.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import type { MemberPort } from '../bosh/ports.js';
import type { UpstreamOptions } from '../xmpp/types.js';

function registry(allowedRoutes: string[]) {
  const opened: UpstreamOptions[] = [];
  const links = new LinkRegistry({
    domains: { 'Example.COM': { host: 'xmpp.example.com', port: 5222, tls: 'required', insecure: false } },
    allowedRoutes,
    sharing: { maxMembers: 16, attachOrigins: undefined, replayEvents: 10, replayMs: 1000 },
    stream: { connectTimeoutMs: 1000, maxStanzaBytes: 1000 },
    openUpstream: (options) => {
      opened.push(options);
      return { send() {}, restart() {}, close() {}, markBound() {} };
    },
    clock: new FakeClock(),
    log: createMemoryLogger().logger,
    metrics: new Metrics(),
  });
  const member: MemberPort = { sid: 's', streamOpened() {}, deliver() {}, fail() {} };
  return { links, opened, member };
}

const tick = () => new Promise<void>((resolve) => queueMicrotask(resolve));

test('B-20 D22: route is ignored when no route is allowed; the configured upstream is used', async () => {
  const { links, opened, member } = registry([]);
  links.join({ to: 'example.com', route: 'xmpp:evil.example:5222', remoteAddress: '1.2.3.4' }, member);
  await tick();
  assert.equal(opened[0]!.host, 'xmpp.example.com');
  assert.equal(opened[0]!.domain, 'example.com', 'domains match without regard to case');
});

test('B-21 D22: an allowed route (proto:host:port, not a URI) is honoured; others get host-unknown', async () => {
  const { links, opened, member } = registry(['10.1.2.3:5223', '::1:5224']);
  links.join({ to: 'example.com', route: 'xmpp:10.1.2.3:5223', remoteAddress: '1.2.3.4' }, member);
  links.join({ to: 'example.com', route: 'xmpp:[::1]:5224', remoteAddress: '1.2.3.4' }, member);
  await tick();
  assert.deepEqual(opened.map((o) => [o.host, o.port]), [['10.1.2.3', 5223], ['::1', 5224]]);
  assert.throws(() => links.join({ to: 'example.com', route: 'xmpp:10.9.9.9:5222', remoteAddress: 'x' }, member), /route not allowed/);
  assert.throws(() => links.join({ to: 'example.com', route: 'http://x/', remoteAddress: 'x' }, member), /proto:host:port/);
});
