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

/** Told the outcome of readBody once; `context` comes back as given (no closure per request). */
export type BodyCallback<C> = (context: C, result: BodyResult) => void;

type Decoder = Gunzip | Inflate | InflateRaw;

/** Where a request's read keeps its state while it runs: on the request itself, under this key. */
const READ = Symbol('bodyRead');
type Reading = HttpRequest & { [READ]?: BodyRead<unknown> };

/**
 * One body being read. Its listeners are shared functions that find it on the request, so a
 * request costs this one object instead of a closure per listener, a promise and an async frame
 * (every BOSH request passes here, and a held one lives on for up to `wait` seconds).
 */
class BodyRead<C> {
  settled = false;
  /** The decoded body so far: the first chunk alone (most bodies come in one), or all of them. */
  first: Buffer | undefined = undefined;
  more: Buffer[] | undefined = undefined;
  decodedBytes = 0;
  rawBytes = 0;
  decoder: Decoder | undefined = undefined;
  /** deflate: first bytes held back until we know zlib from raw DEFLATE. */
  sniffed: Buffer | undefined = undefined;

  constructor(
    readonly req: Reading,
    readonly coding: ContentCoding | 'identity',
    readonly limits: BodyLimits,
    readonly done: BodyCallback<C>,
    readonly context: C,
  ) {}

  /** The decoded bytes so far, as one buffer (the chunk itself when there was one). */
  body(): Buffer {
    if (this.more === undefined) return this.first ?? Buffer.alloc(0);
    return Buffer.concat([this.first!, ...this.more], this.decodedBytes);
  }

  settle(result: BodyResult): void {
    if (this.settled) return;
    this.settled = true;
    this.first = undefined;
    this.more = undefined;
    const decoder = this.decoder;
    if (decoder) {
      decoder.removeAllListeners('data');
      decoder.on('error', () => undefined);
      decoder.destroy();
      this.decoder = undefined;
    }
    // A held request lives on for up to `wait` seconds: it must not keep this read, and
    // through it the body, alive meanwhile.
    const req = this.req;
    req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    req[READ] = undefined;
    if (result.kind !== 'complete') discardRest(req, this.limits.discardBytes);
    this.done(this.context, result);
  }

  overflow(): void {
    const head = this.body().subarray(0, OVERSIZED_HEAD_BYTES);
    this.settle({ kind: 'oversized', head: Buffer.from(head) });
  }

  accept(chunk: Buffer): void {
    if (this.settled) return;
    this.decodedBytes += chunk.length;
    if (this.first === undefined) this.first = chunk;
    else (this.more ??= []).push(chunk);
    if (this.decodedBytes > this.limits.maxBytes) this.overflow();
  }

  startDecoder(first: Buffer): Decoder {
    const d = this.coding === 'gzip' ? createGunzip() : looksLikeZlib(first) ? createInflate() : createInflateRaw();
    d.on('data', (chunk: Buffer) => this.accept(chunk));
    d.on('end', () => this.settle({ kind: 'complete', body: this.body() }));
    d.on('error', (error: Error) => this.settle({ kind: 'corrupt', error }));
    return d;
  }

  feed(chunk: Buffer): void {
    if (this.decoder) {
      this.decoder.write(chunk);
      return;
    }
    const sniffed = (this.sniffed = this.sniffed ? Buffer.concat([this.sniffed, chunk]) : chunk);
    if (this.coding === 'deflate' && sniffed.length < 2) return;
    this.decoder = this.startDecoder(sniffed);
    this.decoder.write(sniffed);
    this.sniffed = undefined;
  }

  finish(): void {
    if (this.settled) return;
    if (requestAborted(this.req)) return this.settle({ kind: 'aborted' });
    if (this.coding === 'identity') return this.settle({ kind: 'complete', body: this.body() });
    if (!this.decoder) this.decoder = this.startDecoder(this.sniffed ?? Buffer.alloc(0));
    if (this.sniffed) this.decoder.write(this.sniffed);
    this.sniffed = undefined;
    this.decoder.end();
  }
}

function onData(this: Reading, chunk: Buffer): void {
  const read = this[READ];
  if (!read) return;
  read.rawBytes += chunk.length;
  if (read.settled) return;
  if (read.coding === 'identity') return read.accept(chunk);
  // The encoded body counts too: decoded bytes alone would let a huge upload through.
  if (read.rawBytes > read.limits.maxBytes) return read.overflow();
  read.feed(chunk);
}

function onEnd(this: Reading): void {
  this.off('data', onData);
  this[READ]?.finish();
}

function onError(this: Reading): void {
  this[READ]?.settle({ kind: 'aborted' });
}

function onClose(this: Reading): void {
  if (!this.complete) this[READ]?.settle({ kind: 'aborted' });
}

/**
 * Reads a request body within `limits.maxBytes`, decoding gzip/deflate as a stream so that
 * memory stays bounded by the limit plus one zlib chunk whatever the compression ratio.
 * Calls `done(context, result)` once, as soon as the outcome is known (never synchronously);
 * an oversized body keeps being read and discarded (so the client can read its reply) up to
 * `limits.discardBytes`, then the socket is destroyed.
 */
export function readBody<C>(req: HttpRequest, coding: ContentCoding | 'identity', limits: BodyLimits, done: BodyCallback<C>, context: C): void {
  const reading = req as Reading;
  reading[READ] = new BodyRead<unknown>(reading, coding, limits, done as BodyCallback<unknown>, context);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  req.on('close', onClose);
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
