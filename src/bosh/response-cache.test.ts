import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseCache } from './response-cache.js';

test('B-86 B-88: a stored response is found by its rid, unchanged', () => {
  const cache = new ResponseCache();
  assert.equal(cache.highest, 0);
  cache.store(7, '<body/>', 100, false, 2);
  assert.equal(cache.find(7)?.body, '<body/>');
  assert.equal(cache.find(7)?.sentAt, 100);
  assert.equal(cache.find(6), undefined);
  assert.equal(cache.highest, 7);
});

test('B-87: only the newest `keep` responses are kept', () => {
  const cache = new ResponseCache();
  for (let rid = 1; rid <= 4; rid++) cache.store(rid, `r${rid}`, rid, true, 2);
  assert.equal(cache.find(2), undefined);
  assert.equal(cache.find(3)?.body, 'r3');
  assert.equal(cache.find(4)?.body, 'r4');
  assert.equal(cache.highest, 4);
});

test('B-88: a second answer to one rid replaces the first', () => {
  const cache = new ResponseCache();
  cache.store(1, 'first', 0, false, 2);
  cache.store(1, 'second', 1, true, 2);
  cache.store(2, 'two', 2, false, 2);
  assert.equal(cache.find(1)?.body, 'second');
  assert.equal(cache.find(1)?.hadPayload, true);
});

test('B-90: resend counts the repeats of a rid', () => {
  const cache = new ResponseCache();
  cache.store(1, 'r', 0, false, 2);
  assert.equal(cache.resend(1)?.resends, 1);
  assert.equal(cache.resend(1)?.resends, 2);
  assert.equal(cache.resend(9), undefined);
});

test('B-58: acknowledged responses are dropped; later ones kept; clear forgets all', () => {
  const cache = new ResponseCache();
  for (let rid = 1; rid <= 5; rid++) cache.store(rid, `r${rid}`, rid, false, 16);
  cache.acknowledge(3);
  assert.equal(cache.find(3), undefined);
  assert.equal(cache.find(4)?.body, 'r4');
  assert.equal(cache.find(5)?.body, 'r5');
  cache.clear();
  assert.equal(cache.find(5), undefined);
  assert.equal(cache.highest, 5, 'the highest rid answered stays known');
});
