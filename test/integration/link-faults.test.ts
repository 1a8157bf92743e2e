import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSharedHarness } from '../support/shared-harness.js';

/** How a link turns its upstream's faults into terminal conditions (issue 11), over fake upstreams. */

test('B-123 D19: an upstream that failed with an exception ends every member of its link with internal-server-error', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  const b = await h.client();
  const bHeld = b.req();
  a.up.sink.onEnd({ kind: 'failed', error: new TypeError('a bug') });
  assert.equal(a.held.attrs.condition, 'internal-server-error');
  assert.equal(bHeld.attrs.condition, 'internal-server-error');
});

test('the link tells its upstream when the resource is bound (pings start then), once the bind result arrives', async () => {
  const h = createSharedHarness();
  const a = await h.creator();
  assert.equal(a.up.bound, true);
  await h.client('', 'other.example');
  assert.equal(h.upstreams.at(-1)!.bound, false, 'not bound: no markBound()');
});
