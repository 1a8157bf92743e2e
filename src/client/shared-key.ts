import { bytesToBase64Url } from './base64.js';

/** docs/design.md D2: a shared key is 32..256 characters of [A-Za-z0-9._~+/=-], case-sensitive. */
export const SHARED_KEY_PATTERN = /^[A-Za-z0-9._~+/=-]{32,256}$/;

/** True when the CM will accept `key` as a `shared:key` (D2; else it answers `weak-key`). */
export function isValidSharedKey(key: string): boolean {
  return SHARED_KEY_PATTERN.test(key);
}

/**
 * A fresh shared key from the platform CSPRNG (D4; ProtoXEP §6.1 "hard to guess"): `bytes`
 * random bytes (at least 16, i.e. 128 bits; default 32 = 256 bits) in base64url without
 * padding, so 43 characters of [A-Za-z0-9_-] by default.
 */
export function generateKey(bytes = 32, random: (b: Uint8Array) => Uint8Array = (b) => globalThis.crypto.getRandomValues(b)): string {
  if (!Number.isInteger(bytes) || bytes < 24 || bytes > 192) {
    // 24 bytes is the least that gives the 32 characters D2 requires; 192 bytes gives 256.
    throw new RangeError('generateKey: bytes must be an integer from 24 to 192');
  }
  return bytesToBase64Url(random(new Uint8Array(bytes)));
}
