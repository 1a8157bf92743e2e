import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderSrvRecords, resolveTargets, ServiceUnavailableError, type SrvRecord } from './srv.js';

const rec = (name: string, priority: number, weight: number, port = 5222): SrvRecord => ({ name, port, priority, weight });

/** A random source that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

function failingResolver(code: string) {
  return async (): Promise<SrvRecord[]> => {
    throw Object.assign(new Error(`query failed: ${code}`), { code });
  };
}

test('D22: a configured host is used as is, without DNS', async () => {
  let asked = false;
  const r = await resolveTargets({
    domain: 'example.com',
    host: 'xmpp.internal',
    port: 5999,
    resolveSrv: async () => {
      asked = true;
      return [];
    },
  });
  assert.deepEqual(r, { targets: [{ host: 'xmpp.internal', port: 5999 }], source: 'fixed' });
  assert.equal(asked, false);
  assert.deepEqual((await resolveTargets({ domain: 'd', host: 'h' })).targets, [{ host: 'h', port: 5222 }]);
});

test('D22: SRV records of _xmpp-client._tcp.<domain> are used, ordered by priority', async () => {
  let asked = '';
  const r = await resolveTargets({
    domain: 'example.com',
    resolveSrv: async (name) => {
      asked = name;
      return [rec('c.example.com.', 20, 0, 5224), rec('a.example.com', 10, 0, 5222), rec('b.example.com', 15, 0, 5223)];
    },
  });
  assert.equal(asked, '_xmpp-client._tcp.example.com');
  assert.equal(r.source, 'srv');
  assert.deepEqual(r.targets, [
    { host: 'a.example.com', port: 5222 },
    { host: 'b.example.com', port: 5223 },
    { host: 'c.example.com', port: 5224 },
  ]);
});

for (const code of ['ENOTFOUND', 'ENODATA', 'ESERVFAIL']) {
  test(`D22: no SRV records (${code}) falls back to the domain on the configured port`, async () => {
    const r = await resolveTargets({ domain: 'example.com', port: 5333, resolveSrv: failingResolver(code) });
    assert.deepEqual(r, { targets: [{ host: 'example.com', port: 5333 }], source: 'fallback', srvError: code });
  });
}

test('D22: the fallback port defaults to 5222; an empty answer falls back too', async () => {
  const r = await resolveTargets({ domain: 'example.com', resolveSrv: async () => [] });
  assert.deepEqual(r.targets, [{ host: 'example.com', port: 5222 }]);
  assert.equal(r.source, 'fallback');
});

test("RFC 2782: a single SRV target '.' means the service is not available", async () => {
  for (const name of ['.', '']) {
    await assert.rejects(
      resolveTargets({ domain: 'example.com', resolveSrv: async () => [rec(name, 0, 0)] }),
      ServiceUnavailableError,
    );
  }
});

test('RFC 2782: within a priority, the order is weighted random', () => {
  const records = [rec('light', 1, 10), rec('heavy', 1, 90), rec('zero', 1, 0), rec('later', 2, 50)];
  // total weight 100: pick 0 selects the zero-weight record, which sorts first.
  assert.deepEqual(orderSrvRecords(records, sequence(0)).map((r) => r.name), ['zero', 'light', 'heavy', 'later']);
  // pick 50 (of 0..100): running sums zero=0, light=10, heavy=100 -> heavy; then of light/zero
  // (total 10) pick 5 -> light.
  assert.deepEqual(orderSrvRecords(records, sequence(50 / 101, 5 / 11, 0)).map((r) => r.name), ['heavy', 'light', 'zero', 'later']);

  const counts = { light: 0, heavy: 0 };
  let seed = 42;
  const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const first = orderSrvRecords([rec('light', 1, 10), rec('heavy', 1, 90)], lcg)[0]!.name as 'light' | 'heavy';
    counts[first]++;
  }
  assert.ok(counts.heavy > 1600 && counts.heavy < 1990, JSON.stringify(counts));
});
