import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RidWindow } from './rid-window.js';

test('B-46 B-82: the window starts below the creation rid and moves one rid at a time', () => {
  const rids = new RidWindow<string>(1000);
  assert.equal(rids.last, 999);
  rids.advance(1000);
  rids.advance(1001);
  assert.equal(rids.last, 1001);
  const top = new RidWindow<string>(Number.MAX_SAFE_INTEGER);
  top.advance(Number.MAX_SAFE_INTEGER);
  assert.equal(top.last, Number.MAX_SAFE_INTEGER, 'exact up to 2^53 - 1');
});

test('B-83: early requests wait until the gap is filled, then come out in rid order', () => {
  const rids = new RidWindow<string>(1);
  rids.advance(1);
  rids.buffer(4, 'four');
  rids.buffer(3, 'three');
  assert.equal(rids.bufferedCount, 2);
  assert.equal(rids.buffered(3), 'three');
  assert.equal(rids.takeNext(), undefined, 'rid 2 has not arrived');
  rids.advance(2);
  assert.equal(rids.takeNext(), 'three');
  rids.advance(3);
  assert.equal(rids.takeNext(), 'four');
  rids.advance(4);
  assert.equal(rids.takeNext(), undefined);
  assert.equal(rids.bufferedCount, 0);
});

test('B-125: takeAll empties the buffer (the session ends)', () => {
  const rids = new RidWindow<string>(1);
  rids.buffer(3, 'a');
  rids.buffer(5, 'b');
  assert.deepEqual(rids.takeAll(), ['a', 'b']);
  assert.equal(rids.bufferedCount, 0);
  assert.deepEqual(rids.takeAll(), []);
});

test('D24: a dropped rid is taken back once; only the newest `keep` are remembered', () => {
  const rids = new RidWindow<string>(1);
  rids.drop(5, 2);
  assert.equal(rids.takeDropped(4), false);
  assert.equal(rids.takeDropped(5), true);
  assert.equal(rids.takeDropped(5), false, 'held again only once');
  rids.drop(6, 2);
  rids.drop(7, 2);
  rids.drop(8, 2);
  assert.equal(rids.takeDropped(6), false, 'the oldest is forgotten');
  assert.equal(rids.takeDropped(8), true);
  assert.equal(rids.takeDropped(7), true);
});

test('B-84 D24: a missing rid counts as lost once `threshold` waiting requests are above it, and at most `maxLost` of them', () => {
  const open = (item: string) => item !== 'gone';
  const rids = new RidWindow<string>(1);
  rids.advance(1);
  assert.equal(rids.reach(2, open, 2, 2), 2, 'the next rid: nothing missing');
  assert.equal(rids.reach(3, open, 2, 2), 1, 'one request above rid 2: it may still come (B-83)');
  rids.buffer(3, 'three');
  assert.equal(rids.reach(4, open, 2, 2), 4, 'two above rid 2: it is lost; 3 and 4 follow');
  assert.equal(rids.reach(4, open, 3, 3), 1, 'not with requests=3');
  rids.buffer(3, 'gone');
  assert.equal(rids.reach(4, open, 2, 2), 1, 'a request whose client went away is no evidence');
  const far = new RidWindow<string>(1);
  far.advance(1);
  assert.equal(far.reach(5, open, 1, 1), 2, 'requests=1: only one rid can be lost');
  assert.equal(far.reach(3, open, 1, 1), 3);
});

test('D24: a lost rid moves the window past it and is taken back once', () => {
  const rids = new RidWindow<string>(1);
  rids.advance(1);
  rids.buffer(3, 'three');
  assert.equal(rids.skipLost(2), 2);
  assert.equal(rids.last, 2);
  assert.equal(rids.takeNext(), 'three');
  assert.equal(rids.takeLost(3), false);
  assert.equal(rids.takeLost(2), true);
  assert.equal(rids.takeLost(2), false, 'told only once');
});
