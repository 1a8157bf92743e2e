import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, isValidSharedKey } from './shared-key.js';

test('D2, D4: generateKey gives 43 base64url characters (256 bits) that the CM accepts', () => {
  const keys = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const key = generateKey();
    assert.equal(key.length, 43);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(isValidSharedKey(key));
    keys.add(key);
  }
  assert.equal(keys.size, 200);
});

test('D2: every allowed size gives a key of 32..256 characters; fewer than 24 bytes is refused', () => {
  assert.equal(generateKey(24).length, 32);
  assert.ok(isValidSharedKey(generateKey(24)));
  assert.equal(generateKey(192).length, 256);
  assert.ok(isValidSharedKey(generateKey(192)));
  assert.throws(() => generateKey(16), RangeError);
  assert.throws(() => generateKey(193), RangeError);
});

test('generateKey draws from the given CSPRNG', () => {
  assert.equal(generateKey(24, (b) => b.fill(0xff)), '_'.repeat(32));
});

test('D2: isValidSharedKey matches the CM rule exactly', () => {
  assert.ok(isValidSharedKey('3c1d69981b65bfbd641dcb64c82bb613'));
  assert.ok(isValidSharedKey('A-Za-z0-9._~+/=' + 'x'.repeat(17)));
  assert.ok(!isValidSharedKey('x'.repeat(31)));
  assert.ok(!isValidSharedKey('x'.repeat(257)));
  assert.ok(isValidSharedKey('x'.repeat(256)));
  assert.ok(!isValidSharedKey('x'.repeat(31) + ' '));
  assert.ok(!isValidSharedKey('x'.repeat(31) + 'é'));
});
