import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StringDecoder } from 'node:string_decoder';
import { endsWithCompleteChar, Utf8Stream } from './utf8.js';

const TEXT = "<message><body>a \u00e9 \u20ac \u{1F600} z</body></message>";

function decodeAll(chunks: Buffer[]): string {
  const stream = new Utf8Stream();
  return chunks.map((c) => stream.write(c)).join('');
}

test('text split at any two positions decodes as a whole', () => {
  const bytes = Buffer.from(TEXT, 'utf8');
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const chunks = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
      assert.equal(decodeAll(chunks), TEXT, `split at ${i}, ${j}`);
    }
  }
  // One byte per read: a 4-byte character arrives over four reads.
  assert.equal(decodeAll([...bytes].map((b) => Buffer.from([b]))), TEXT);
});

test('invalid UTF-8 decodes as StringDecoder decodes it', () => {
  const bad = Buffer.concat([Buffer.from('a'), Buffer.from([0xe2, 0x28, 0xa1, 0x80, 0xf0, 0x9f, 0xc3, 0xff, 0xf8, 0x88]), Buffer.from('z')]);
  for (let i = 0; i <= bad.length; i++) {
    const chunks = [bad.subarray(0, i), bad.subarray(i)];
    const decoder = new StringDecoder('utf8');
    assert.equal(decodeAll(chunks), chunks.map((c) => decoder.write(c)).join(''), `split at ${i}`);
  }
});

test('endsWithCompleteChar', () => {
  assert.equal(endsWithCompleteChar(Buffer.from('abc')), true);
  assert.equal(endsWithCompleteChar(Buffer.from('\u00e9')), true);
  assert.equal(endsWithCompleteChar(Buffer.from('\u00e9').subarray(0, 1)), false);
  assert.equal(endsWithCompleteChar(Buffer.from('\u{1F600}').subarray(0, 3)), false);
  assert.equal(endsWithCompleteChar(Buffer.from('\u{1F600}').subarray(2)), false, 'continuation bytes only');
  assert.equal(endsWithCompleteChar(Buffer.alloc(0)), true);
});
