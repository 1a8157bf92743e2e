import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync, gunzipSync, inflateSync } from 'node:zlib';
import { ASYNC_COMPRESS_BYTES, compress, compressSync, looksLikeZlib, negotiateEncoding, requestCoding } from './compression.js';

test('B-06: Accept-Encoding negotiation respects q values and identity', () => {
  const table: Array<[string | undefined, 'gzip' | 'deflate' | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['gzip, deflate, br', 'gzip'],
    ['deflate, gzip', 'gzip'],
    ['br', undefined],
    ['identity', undefined],
    ['*', 'gzip'],
    ['*;q=0', undefined],
    ['gzip;q=0', undefined],
    ['gzip;q=0, deflate', 'deflate'],
    ['gzip;q=0.5, deflate;q=0.8', 'deflate'],
    ['gzip; q=0.8 , deflate;q=0.8', 'gzip'],
    ['br, *;q=0.1', 'gzip'],
    ['gzip;q=0, *', 'deflate'],
    ['identity;q=1, gzip;q=0.5', undefined],
    ['identity;q=0.5, gzip', 'gzip'],
    ['gzip;q=2', undefined],
    ['gzip;q=abc', undefined],
    ['gzip;q=0, gzip', undefined],
  ];
  for (const [header, expected] of table) assert.equal(negotiateEncoding(header), expected, String(header));
});

test('B-38: request Content-Encoding names', () => {
  const table: Array<[string | undefined, string]> = [
    [undefined, 'identity'],
    ['', 'identity'],
    ['identity', 'identity'],
    ['gzip', 'gzip'],
    [' GZip ', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['br', 'unsupported'],
    ['compress', 'unsupported'],
    ['gzip, deflate', 'unsupported'],
  ];
  for (const [header, expected] of table) assert.equal(requestCoding(header), expected, String(header));
});

test('deflate request bodies: zlib and raw DEFLATE are told apart', () => {
  const text = Buffer.from('<body/>');
  assert.equal(looksLikeZlib(deflateSync(text)), true);
  assert.equal(looksLikeZlib(deflateSync(text, { level: 9 })), true);
  assert.equal(looksLikeZlib(deflateSync(text, { level: 1 })), true);
  assert.equal(looksLikeZlib(deflateRawSync(text)), false);
});

test('B-06: compress round-trips for both codings, small and large', async () => {
  for (const size of [10, ASYNC_COMPRESS_BYTES + 10]) {
    const body = Buffer.from('<message/>'.repeat(Math.ceil(size / 10)));
    assert.deepEqual(gunzipSync(compressSync(body, 'gzip')), body);
    assert.deepEqual(inflateSync(compressSync(body, 'deflate')), body);
    assert.deepEqual(gunzipSync(await compress(body, 'gzip')), body);
    assert.deepEqual(inflateSync(await compress(body, 'deflate')), body);
  }
});
