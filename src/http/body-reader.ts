import { createGunzip, createInflate, createInflateRaw, type Gunzip, type Inflate, type InflateRaw } from 'node:zlib';
import { looksLikeZlib, type ContentCoding } from './compression.js';
import { abortRequest, requestAborted, type HttpRequest } from './messages.js';

/** How much of an oversized body the BOSH layer still gets (enough to find the `sid`). */
export const OVERSIZED_HEAD_BYTES = 4096;

export type BodyResult =
  /** The whole body, decoded. */
  | { kind: 'complete'; body: Buffer }
  /** More than `maxBytes`, raw or decoded: only the first decoded bytes are kept. */
  | { kind: 'oversized'; head: Buffer }
  /** The Content-Encoding could not be decoded (bad gzip/deflate data). */
  | { kind: 'corrupt'; error: Error }
  /** The client went away before the body was complete. */
  | { kind: 'aborted' };

export interface BodyLimits {
  /** Largest body accepted, counted raw and again after decoding (B-38: a zip bomb stops here). */
  maxBytes: number;
  /** After an oversized body: bytes still read and thrown away before the socket is destroyed. */
  discardBytes: number;
}

type Decoder = Gunzip | Inflate | InflateRaw;

/**
 * Reads a request body within `limits.maxBytes`, decoding gzip/deflate as a stream so that
 * memory stays bounded by the limit plus one zlib chunk whatever the compression ratio.
 * Resolves as soon as the outcome is known; an oversized body keeps being read and discarded
 * (so the client can read its reply) up to `limits.discardBytes`, then the socket is destroyed.
 */
export function readBody(req: HttpRequest, coding: ContentCoding | 'identity', limits: BodyLimits): Promise<BodyResult> {
  return new Promise((resolve) => {
    let settled = false;
    const chunks: Buffer[] = [];
    let decodedBytes = 0;
    let rawBytes = 0;
    let decoder: Decoder | undefined;
    /** deflate: first bytes held back until we know zlib from raw DEFLATE. */
    let sniffed: Buffer | undefined;

    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      chunks.length = 0;
      if (decoder) {
        decoder.removeAllListeners('data');
        decoder.on('error', () => undefined);
        decoder.destroy();
        decoder = undefined;
      }
      // A held request lives on for up to `wait` seconds: its listeners must not keep this
      // closure, and through `resolve` the promise and its body buffer, alive meanwhile.
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (result.kind !== 'complete') discardRest(req, limits.discardBytes);
      resolve(result);
    };
    const overflow = (): void => {
      const head = Buffer.concat(chunks).subarray(0, OVERSIZED_HEAD_BYTES);
      settle({ kind: 'oversized', head: Buffer.from(head) });
    };
    const accept = (chunk: Buffer): void => {
      if (settled) return;
      decodedBytes += chunk.length;
      chunks.push(chunk);
      if (decodedBytes > limits.maxBytes) overflow();
    };
    const startDecoder = (first: Buffer): Decoder => {
      const d = coding === 'gzip' ? createGunzip() : looksLikeZlib(first) ? createInflate() : createInflateRaw();
      d.on('data', accept);
      d.on('end', () => settle({ kind: 'complete', body: Buffer.concat(chunks, decodedBytes) }));
      d.on('error', (error: Error) => settle({ kind: 'corrupt', error }));
      return d;
    };
    const feed = (chunk: Buffer): void => {
      if (decoder) {
        decoder.write(chunk);
        return;
      }
      sniffed = sniffed ? Buffer.concat([sniffed, chunk]) : chunk;
      if (coding === 'deflate' && sniffed.length < 2) return;
      decoder = startDecoder(sniffed);
      decoder.write(sniffed);
      sniffed = undefined;
    };

    const onData = (chunk: Buffer): void => {
      rawBytes += chunk.length;
      if (settled) return;
      if (coding === 'identity') return accept(chunk);
      // The encoded body counts too: decoded bytes alone would let a huge upload through.
      if (rawBytes > limits.maxBytes) return overflow();
      feed(chunk);
    };
    const onEnd = (): void => {
      req.off('data', onData);
      if (settled) return;
      if (requestAborted(req)) return settle({ kind: 'aborted' });
      if (coding === 'identity') return settle({ kind: 'complete', body: Buffer.concat(chunks, decodedBytes) });
      if (!decoder) decoder = startDecoder(sniffed ?? Buffer.alloc(0));
      if (sniffed) decoder.write(sniffed);
      sniffed = undefined;
      decoder.end();
    };
    const onError = (): void => settle({ kind: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) settle({ kind: 'aborted' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Reads and drops what is left of a request we will not use, so that the client can finish
 * sending and read the reply; a client that sends more than `limitBytes` loses its connection
 * (HTTP/1.x) or has its stream reset (HTTP/2).
 */
export function discardRest(req: HttpRequest, limitBytes: number): void {
  if (req.complete || req.destroyed) return;
  let read = 0;
  const onData = (chunk: Buffer): void => {
    read += chunk.length;
    if (read > limitBytes) {
      req.off('data', onData);
      abortRequest(req);
    }
  };
  req.on('data', onData);
  req.resume();
}
