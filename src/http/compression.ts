import { deflate, deflateSync, gzip, gzipSync, constants } from 'node:zlib';
import { promisify } from 'node:util';

/** The content codings the CM produces and decodes; `accept='gzip,deflate'` in the creation response (B-37). */
export type ContentCoding = 'gzip' | 'deflate';

/** How a request body is encoded: a coding we decode, none, or one we cannot read. */
export type RequestCoding = ContentCoding | 'identity' | 'unsupported';

/** Bodies larger than this are compressed off the event loop (zlib's thread pool). */
export const ASYNC_COMPRESS_BYTES = 64 * 1024;

const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);

/** Speed over ratio: BOSH bodies are small and latency matters more than a few bytes. */
const ZLIB_OPTIONS = { level: constants.Z_DEFAULT_COMPRESSION };

/**
 * XEP-0124 §5 (B-06): picks the coding for a response from the request's `Accept-Encoding`
 * (RFC 9110 §12.5.3): the acceptable (q > 0) one of gzip/deflate with the highest q, gzip on a
 * tie; none when the header is absent, accepts neither, or prefers `identity` outright.
 */
export function negotiateEncoding(acceptEncoding: string | undefined): ContentCoding | undefined {
  if (!acceptEncoding) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [rawName, ...params] = part.split(';');
    let name = rawName!.trim().toLowerCase();
    if (!name) continue;
    if (name === 'x-gzip') name = 'gzip';
    let weight = 1;
    for (const param of params) {
      const m = /^\s*q\s*=\s*(\S*)\s*$/i.exec(param);
      if (m) weight = Number(m[1]);
    }
    if (!Number.isFinite(weight) || weight < 0 || weight > 1) weight = 0;
    // The first mention wins, like most servers, when a client lists a coding twice.
    if (!q.has(name)) q.set(name, weight);
  }
  const star = q.get('*');
  const weightOf = (coding: string): number => q.get(coding) ?? star ?? 0;
  const gzipQ = weightOf('gzip');
  const deflateQ = weightOf('deflate');
  const best: ContentCoding = gzipQ >= deflateQ ? 'gzip' : 'deflate';
  const bestQ = Math.max(gzipQ, deflateQ);
  if (bestQ <= 0) return undefined;
  const identityQ = q.get('identity');
  if (identityQ !== undefined && identityQ > bestQ) return undefined;
  return best;
}

/**
 * XEP-0124 §7.2 (B-38): the coding of a request body from its `Content-Encoding`. Only one
 * coding is supported; a list of several (`gzip, gzip`) is 'unsupported'.
 */
export function requestCoding(contentEncoding: string | undefined): RequestCoding {
  const value = (contentEncoding ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  return 'unsupported';
}

/** Compresses on the calling thread: cheap for bodies under ASYNC_COMPRESS_BYTES. */
export function compressSync(body: Buffer, coding: ContentCoding): Buffer {
  return coding === 'gzip' ? gzipSync(body, ZLIB_OPTIONS) : deflateSync(body, ZLIB_OPTIONS);
}

/** Compresses a body, on zlib's thread pool when it is large (ASYNC_COMPRESS_BYTES). */
export async function compress(body: Buffer, coding: ContentCoding): Promise<Buffer> {
  if (body.length < ASYNC_COMPRESS_BYTES) return compressSync(body, coding);
  return coding === 'gzip' ? gzipAsync(body, ZLIB_OPTIONS) : deflateAsync(body, ZLIB_OPTIONS);
}

/**
 * `deflate` should be the zlib format (RFC 9110 §8.4.1.2), but some clients send raw DEFLATE;
 * a zlib stream starts with a CMF/FLG pair whose 16-bit value is a multiple of 31 and CM = 8.
 */
export function looksLikeZlib(firstBytes: Buffer): boolean {
  if (firstBytes.length < 2) return true;
  const cmf = firstBytes[0]!;
  const flg = firstBytes[1]!;
  return (cmf & 0x0f) === 8 && ((cmf << 8) | flg) % 31 === 0;
}
