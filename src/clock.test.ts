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

test('Deadlines of one clock share one timer; each fires at its own time, ties in the order they were set', () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  const ds = ['a', 'b', 'c', 'd'].map((name) => new Deadline(clock, () => fired.push(`${name}@${clock.now()}`)));
  ds[0]!.setAt(300);
  ds[1]!.setAt(100);
  ds[2]!.setAt(200);
  ds[3]!.setAt(100);
  assert.equal(clock.pending, 1);
  clock.tick(99);
  assert.deepEqual(fired, []);
  clock.tick(1);
  assert.deepEqual(fired, ['b@100', 'd@100']);
  ds[0]!.setAt(150); // earlier than queued: the timer moves
  clock.tick(100);
  assert.deepEqual(fired, ['b@100', 'd@100', 'a@150', 'c@200']);
  assert.equal(clock.pending, 0);
});

test('A cancelled Deadline leaves the shared queue (nothing of it stays referenced); the others still fire', () => {
  const clock = new FakeClock();
  let fired = 0;
  const many = Array.from({ length: 50 }, (_, i) => new Deadline(clock, () => fired++));
  many.forEach((d, i) => d.setAt(1000 + ((i * 37) % 50)));
  for (let i = 0; i < 50; i += 2) many[i]!.cancel();
  clock.tick(2000);
  assert.equal(fired, 25);
  many[1]!.setAt(3000);
  many[1]!.cancel();
  assert.equal(clock.pending, 0, 'no timer once every deadline is gone');
});

test('An exception in one Deadline\'s callback does not keep the others from firing', () => {
  const clock = new FakeClock();
  let fired = 0;
  const bad = new Deadline(clock, () => {
    throw new Error('owner bug');
  });
  const good = new Deadline(clock, () => fired++);
  bad.setAt(10);
  good.setAt(10);
  assert.throws(() => clock.tick(10), /owner bug/);
  assert.equal(fired, 1);
  good.setAt(20);
  clock.tick(10);
  assert.equal(fired, 2);
});

test('A callback that sets a Deadline for now fires it on the next turn, not inside the same sweep', () => {
  const clock = new FakeClock();
  let n = 0;
  const d: Deadline = new Deadline(clock, () => {
    n++;
    if (n < 3) d.setAt(clock.now());
  });
  d.setAt(5);
  clock.tick(5);
  assert.equal(n, 3);
});
