import { test } from 'node:test';
import assert from 'node:assert/strict';
import { incompleteTail, Utf8Stream } from './utf8.js';

const TEXT = "<message><body>a \u00e9 \u20ac \u{1F600} z</body></message>";

function decodeAll(chunks: Buffer[]): string | undefined {
  const stream = new Utf8Stream();
  let out = '';
  for (const chunk of chunks) {
    const text = stream.write(chunk);
    if (text === undefined) return undefined;
    out += text;
  }
  return out;
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

test('invalid UTF-8 is reported (undefined), however it is split, never replaced with U+FFFD', () => {
  const cases: Array<[string, number[]]> = [
    ['bad continuation', [0xe2, 0x28, 0xa1]],
    ['lone continuation', [0x80]],
    ['truncated before ASCII', [0xf0, 0x9f, 0x41]],
    ['0xff', [0xff]],
    ['5-byte lead', [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ['overlong /', [0xc0, 0xaf]],
    ['overlong 3-byte', [0xe0, 0x80, 0xaf]],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ];
  for (const [name, bytes] of cases) {
    const bad = Buffer.concat([Buffer.from('<a>x'), Buffer.from(bytes), Buffer.from('y</a>')]);
    for (let i = 0; i <= bad.length; i++) {
      assert.equal(decodeAll([bad.subarray(0, i), bad.subarray(i)]), undefined, `${name}, split at ${i}`);
    }
  }
});

test('a character cut by the end of the stream is held back, not reported', () => {
  const stream = new Utf8Stream();
  assert.equal(stream.write(Buffer.from('ab\u20ac').subarray(0, 3)), 'ab');
  assert.equal(stream.write(Buffer.from('\u20ac').subarray(1)), '\u20ac');
});

test('incompleteTail', () => {
  assert.equal(incompleteTail(Buffer.from('abc')), 0);
  assert.equal(incompleteTail(Buffer.from('\u00e9')), 0);
  assert.equal(incompleteTail(Buffer.from('\u00e9').subarray(0, 1)), 1);
  assert.equal(incompleteTail(Buffer.from('\u{1F600}').subarray(0, 3)), 3);
  assert.equal(incompleteTail(Buffer.from('\u{1F600}').subarray(2)), 0, 'continuation bytes only: for the check');
  assert.equal(incompleteTail(Buffer.from([0xff])), 0);
  assert.equal(incompleteTail(Buffer.alloc(0)), 0);
});
