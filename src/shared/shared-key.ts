import { createHash } from 'node:crypto';
import { BoshError } from '../bosh/conditions.js';

/** docs/design.md D2: 32..256 characters of [A-Za-z0-9._~+/=-], case-sensitive. */
const KEY_PATTERN = /^[A-Za-z0-9._~+/=-]{32,256}$/;

/** A digest of a shared key: the only form the CM keeps (D3, S-11). */
export type KeyDigest = string & { readonly __keyDigest: unique symbol };

/**
 * Checks a `shared:key` against D2 and returns its SHA-256 digest; the clear key goes no
 * further than this function. A malformed or short key is refused with `weak-key`.
 */
export function digestSharedKey(key: string): KeyDigest {
  if (!KEY_PATTERN.test(key)) {
    throw new BoshError('policy-violation', 'shared key too short or malformed', [], 'weak-key');
  }
  return createHash('sha256').update(key, 'utf8').digest('hex') as KeyDigest;
}
