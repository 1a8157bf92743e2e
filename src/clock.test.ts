import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../test/support/fake-clock.js';
import { Deadline } from './clock.js';

test('Deadline fires once at its deadline, not before', () => {
  const clock = new FakeClock();
  let fired = 0;
  const d = new Deadline(clock, () => fired++);
  d.setAt(100);
  clock.tick(99);
  assert.equal(fired, 0);
  clock.tick(1);
  assert.equal(fired, 1);
  assert.equal(d.set, false);
  clock.tick(1000);
  assert.equal(fired, 1);
});

test('Deadline moved later keeps one timer and fires at the new deadline', () => {
  const clock = new FakeClock();
  let firedAt: number | undefined;
  const d = new Deadline(clock, () => (firedAt = clock.now()));
  d.setAt(100);
  clock.tick(50);
  d.setAt(250);
  assert.equal(clock.pending, 1);
  clock.tick(150); // t = 200: the first timer fires and re-arms
  assert.equal(firedAt, undefined);
  assert.equal(clock.pending, 1);
  clock.tick(50);
  assert.equal(firedAt, 250);
});

test('Deadline moved earlier fires at the earlier time', () => {
  const clock = new FakeClock();
  let firedAt: number | undefined;
  const d = new Deadline(clock, () => (firedAt = clock.now()));
  d.setAt(500);
  d.setAt(100);
  clock.tick(1000);
  assert.equal(firedAt, 100);
});

test('Deadline cleared does not fire; set again it fires; cancel leaves no timer', () => {
  const clock = new FakeClock();
  let fired = 0;
  const d = new Deadline(clock, () => fired++);
  d.setAt(100);
  d.clear();
  clock.tick(200);
  assert.equal(fired, 0);
  d.setAt(300);
  clock.tick(100);
  assert.equal(fired, 1);
  d.setAt(1000);
  d.cancel();
  assert.equal(clock.pending, 0);
  clock.tick(2000);
  assert.equal(fired, 1);
});
