import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowHeaders, corsForPreflight, corsForRequest, isOriginAllowed, type CorsPolicy } from './cors.js';

const ANY: CorsPolicy = { origins: ['*'], maxAgeS: 86400 };
const LISTED: CorsPolicy = { origins: ['https://app.example', 'http://localhost:8080'], maxAgeS: 600 };

test('CORS: which origins are allowed', () => {
  const table: Array<[string, readonly string[], boolean]> = [
    ['https://app.example', ['*'], true],
    ['null', ['*'], true],
    ['https://app.example', ['https://app.example'], true],
    ['HTTPS://APP.EXAMPLE', ['https://app.example'], true],
    ['https://app.example:443', ['https://app.example'], false],
    ['http://app.example', ['https://app.example'], false],
    ['https://evil.app.example', ['https://app.example'], false],
    ['https://app.example.evil', ['https://app.example'], false],
    ['http://localhost:8080', LISTED.origins, true],
    ['http://localhost:8081', LISTED.origins, false],
    ['null', LISTED.origins, false],
    ['https://app.example', [], false],
  ];
  for (const [origin, origins, expected] of table) {
    assert.equal(isOriginAllowed(origin, origins), expected, `${origin} in ${JSON.stringify(origins)}`);
  }
});

test('CORS: actual requests', () => {
  const table: Array<[string | undefined, CorsPolicy, ReturnType<typeof corsForRequest>]> = [
    [undefined, LISTED, { allowed: true, headers: {} }],
    [undefined, ANY, { allowed: true, headers: {} }],
    ['https://app.example', LISTED, { allowed: true, headers: { 'Access-Control-Allow-Origin': 'https://app.example', Vary: 'Origin' } }],
    ['https://any.example', ANY, { allowed: true, headers: { 'Access-Control-Allow-Origin': 'https://any.example', Vary: 'Origin' } }],
    ['https://evil.example', LISTED, { allowed: false, origin: 'https://evil.example' }],
  ];
  for (const [origin, policy, expected] of table) assert.deepEqual(corsForRequest(origin, policy), expected, String(origin));
});

test('CORS: preflights', () => {
  assert.deepEqual(corsForPreflight({ origin: undefined }, LISTED), { allowed: true, headers: {} });
  assert.deepEqual(corsForPreflight({ origin: 'https://evil.example', requestHeaders: 'content-type' }, LISTED), {
    allowed: false,
    origin: 'https://evil.example',
  });
  assert.deepEqual(corsForPreflight({ origin: 'https://app.example', requestHeaders: 'content-type' }, LISTED), {
    allowed: true,
    headers: {
      'Access-Control-Allow-Origin': 'https://app.example',
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Allow-Headers': 'content-type',
      'Access-Control-Max-Age': '600',
      Vary: 'Origin, Access-Control-Request-Headers',
    },
  });
  const pna = corsForPreflight({ origin: 'https://app.example', requestPrivateNetwork: 'true' }, LISTED);
  assert.ok(pna.allowed);
  assert.equal(pna.headers['Access-Control-Allow-Private-Network'], 'true');
  assert.equal(pna.headers['Access-Control-Allow-Headers'], 'Content-Type');
  const plain = corsForPreflight({ origin: 'https://app.example' }, LISTED);
  assert.ok(plain.allowed);
  assert.equal(plain.headers['Access-Control-Allow-Private-Network'], undefined);
});

test('CORS: requested headers are echoed when they are valid header names', () => {
  const table: Array<[string | undefined, string]> = [
    [undefined, 'Content-Type'],
    ['', 'Content-Type'],
    ['content-type', 'content-type'],
    ['content-type, x-requested-with', 'content-type, x-requested-with'],
    [' content-type ,, x-a ', 'content-type, x-a'],
    ['content-type, bad header, x\r\ny', 'content-type'],
    ['bad header', 'Content-Type'],
  ];
  for (const [requested, expected] of table) assert.equal(allowHeaders(requested), expected, String(requested));
});
