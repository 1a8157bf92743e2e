import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SaslError } from './errors.js';
import { chooseMechanism } from './login.js';
import { decodeSaslData, encodeSaslData, escapeUsername, ScramClient } from './scram.js';

test('SCRAM-SHA-1: RFC 5802 §5 test vector, proof and server signature', async () => {
  const c = new ScramClient('SHA-1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
  assert.equal(c.clientFirst(), 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
  const final = await c.clientFinal('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
  assert.equal(final, 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=');
  c.verifyServerFinal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
  assert.equal(c.verified, true);
});

test('SCRAM-SHA-256: RFC 7677 §3 test vector, proof and server signature', async () => {
  const c = new ScramClient('SHA-256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
  assert.equal(c.clientFirst(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const final = await c.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  assert.equal(final, 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  c.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  assert.equal(c.verified, true);
});

test('SCRAM: a wrong server signature is rejected (the server must know the password)', async () => {
  const c = new ScramClient('SHA-256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
  c.clientFirst();
  await c.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  assert.throws(() => c.verifyServerFinal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='), (e: unknown) => e instanceof SaslError && e.condition === 'server-signature-mismatch');
  assert.throws(() => c.verifyServerFinal('e=invalid-proof'), (e: unknown) => e instanceof SaslError && e.condition === 'not-authorized');
  assert.equal(c.verified, false);
});

test('SCRAM: server-first checks (nonce prefix, iteration floor, mandatory extension)', async () => {
  const first = (s: string) => {
    const c = new ScramClient('SHA-1', 'user', 'pencil', 'abc');
    c.clientFirst();
    return c.clientFinal(s);
  };
  await assert.rejects(first('r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096'), /nonce/);
  await assert.rejects(first('r=abc,s=QSXCR+Q6sek8bf92,i=4096'), /nonce/);
  await assert.rejects(first('r=abcdef,s=QSXCR+Q6sek8bf92,i=1'), /iteration/);
  await assert.rejects(first('m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096'), /extension/);
});

test('SCRAM: usernames escape = and , (RFC 5802 §5.1)', () => {
  assert.equal(escapeUsername('a=b,c'), 'a=3Db=2Cc');
});

test('SASL data encoding: empty is "=" (RFC 6120 §6.4.2), UTF-8 round trip', () => {
  assert.equal(encodeSaslData(''), '=');
  assert.equal(decodeSaslData('='), '');
  assert.equal(decodeSaslData(encodeSaslData('n,,n=jül,r=x')), 'n,,n=jül,r=x');
});

test('the best offered mechanism is chosen: SCRAM-SHA-256 > SCRAM-SHA-1 > PLAIN', () => {
  assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256']), 'SCRAM-SHA-256');
  assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-1-PLUS']), 'SCRAM-SHA-1');
  assert.equal(chooseMechanism(['PLAIN', 'DIGEST-MD5']), 'PLAIN');
  assert.equal(chooseMechanism(['ANONYMOUS']), undefined);
  assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-256'], ['SCRAM-SHA-256']), 'SCRAM-SHA-256');
  assert.equal(chooseMechanism(['PLAIN'], ['SCRAM-SHA-256', 'SCRAM-SHA-1']), undefined);
});
