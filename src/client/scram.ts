import { base64ToBytes, base64ToText, bytesToBase64, textToBase64, utf8 } from './base64.js';
import { SaslError } from './errors.js';

/** The SCRAM hashes we implement (RFC 5802 with SHA-1, RFC 7677 with SHA-256). */
export type ScramHash = 'SHA-1' | 'SHA-256';

const HASH_BITS: Record<ScramHash, number> = { 'SHA-1': 160, 'SHA-256': 256 };

/** RFC 5802 §5.1: the lowest iteration count we accept (a server offering less is weak or hostile). */
export const MIN_ITERATIONS = 4096;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available; SCRAM needs a secure context');
  return s;
}

/** A copy backed by a plain ArrayBuffer, as WebCrypto's BufferSource wants. */
function bs(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(u);
}

/** RFC 2104 HMAC with WebCrypto. */
export async function hmac(hash: ScramHash, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle().importKey('raw', bs(key), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', k, bs(data)));
}

export async function digest(hash: ScramHash, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest(hash, bs(data)));
}

/** RFC 5802 §2.2 Hi() is PBKDF2 with HMAC and dkLen = the hash's output length. */
export async function saltedPassword(hash: ScramHash, password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', bs(utf8(saslPrep(password))), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash, salt: bs(salt), iterations }, key, HASH_BITS[hash]));
}

/**
 * A simplified SASLprep (RFC 4013): non-ASCII spaces become U+0020, "commonly mapped to
 * nothing" characters are removed, then NFKC. It does not check the prohibited and bidi
 * tables; ASCII passwords, the usual case, are unchanged.
 */
export function saslPrep(text: string): string {
  return text
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, ' ')
    .replace(/[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, '')
    .normalize('NFKC');
}

/** RFC 5802 §5.1: `=` and `,` in a username are escaped as `=3D` and `=2C`. */
export function escapeUsername(name: string): string {
  return saslPrep(name).replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Splits `a=1,b=2` into a map (values may contain '=', so split on the first one only). */
function parseAttributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new SaslError('malformed-request', `malformed SCRAM attribute '${part}'`);
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** A fresh client nonce: 18 random bytes in base64 (printable, no ','). */
export function scramNonce(): string {
  return bytesToBase64(globalThis.crypto.getRandomValues(new Uint8Array(18)));
}

/**
 * One SCRAM exchange (RFC 5802 §3, §5) without channel binding (`n,,`; browsers cannot bind
 * to TLS). The client proves the password and checks the server signature, so a server that
 * does not know the password (or a man in the middle) is caught.
 */
export class ScramClient {
  private clientFirstBare = '';
  private expectedServerSignature: Uint8Array | undefined;
  private done = false;

  constructor(
    readonly hash: ScramHash,
    private readonly username: string,
    private readonly password: string,
    private readonly nonce: string = scramNonce(),
    private readonly minIterations: number = MIN_ITERATIONS,
  ) {}

  /** client-first-message: gs2 header `n,,` + `n=<user>,r=<nonce>`. */
  clientFirst(): string {
    this.clientFirstBare = `n=${escapeUsername(this.username)},r=${this.nonce}`;
    return 'n,,' + this.clientFirstBare;
  }

  /** Answers server-first-message with client-final-message (with the proof). */
  async clientFinal(serverFirst: string): Promise<string> {
    const attrs = parseAttributes(serverFirst);
    if (attrs.has('m')) throw new SaslError('malformed-request', 'unsupported mandatory SCRAM extension');
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce || !nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) {
      throw new SaslError('malformed-request', 'server nonce does not extend the client nonce');
    }
    if (!salt) throw new SaslError('malformed-request', 'no salt in server-first-message');
    if (!Number.isSafeInteger(iterations) || iterations < this.minIterations) {
      throw new SaslError('malformed-request', `iteration count ${attrs.get('i')} below ${this.minIterations}`);
    }
    const salted = await saltedPassword(this.hash, this.password, base64ToBytes(salt), iterations);
    const clientKey = await hmac(this.hash, salted, utf8('Client Key'));
    const storedKey = await digest(this.hash, clientKey);
    const withoutProof = `c=${textToBase64('n,,')},r=${nonce}`;
    const authMessage = utf8(`${this.clientFirstBare},${serverFirst},${withoutProof}`);
    const clientSignature = await hmac(this.hash, storedKey, authMessage);
    const serverKey = await hmac(this.hash, salted, utf8('Server Key'));
    this.expectedServerSignature = await hmac(this.hash, serverKey, authMessage);
    return `${withoutProof},p=${bytesToBase64(xor(clientKey, clientSignature))}`;
  }

  /** RFC 5802 §3: checks server-final-message `v=<signature>`; throws unless it proves the server. */
  verifyServerFinal(serverFinal: string): void {
    if (!this.expectedServerSignature) throw new SaslError('malformed-request', 'server-final before server-first');
    const attrs = parseAttributes(serverFinal);
    const error = attrs.get('e');
    if (error !== undefined) throw new SaslError('not-authorized', `SCRAM server error: ${error}`);
    const v = attrs.get('v');
    if (!v || !constantTimeEqual(base64ToBytes(v), this.expectedServerSignature)) {
      throw new SaslError('server-signature-mismatch', 'the server signature is wrong: the server does not know the password');
    }
    this.done = true;
  }

  get verified(): boolean {
    return this.done;
  }
}

/** Decodes XMPP SASL data (base64, `=` for empty) to text. */
export function decodeSaslData(text: string): string {
  const t = text.trim();
  return t === '' || t === '=' ? '' : base64ToText(t);
}

/** Encodes text as XMPP SASL data (RFC 6120 §6.4.2: `=` for an empty response). */
export function encodeSaslData(text: string): string {
  return text === '' ? '=' : textToBase64(text);
}
