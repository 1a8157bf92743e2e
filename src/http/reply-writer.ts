import type { OutgoingHttpHeaders } from 'node:http';
import type { BoshReply } from '../bosh/exchange.js';
import type { Logger } from '../log.js';
import { discardRest } from './body-reader.js';
import { compress, compressSync, negotiateEncoding, ASYNC_COMPRESS_BYTES, type ContentCoding } from './compression.js';
import { isHttp2, responseGone, type HttpRequest, type HttpResponse } from './messages.js';

/**
 * Writes every reply of the server: BOSH replies (compressed, never cached) and the short text
 * answers for everything else. A reply goes out at most once, and never to a client that left.
 */
export class ReplyWriter {
  /** While the server closes, HTTP/1.1 connections end after their reply; HTTP/2 sessions got GOAWAY. */
  closing = false;

  constructor(
    readonly log: Logger,
    private readonly compressMinBytes: number,
    private readonly discardBytes: number,
  ) {}

  /**
   * B-05: always Content-Length, never chunked. B-06: gzip/deflate when the client accepts it
   * and the body reaches `http.compressMinBytes`. B-10: no caching of BOSH responses.
   */
  sendBosh(
    res: HttpResponse,
    answer: BoshReply,
    acceptEncoding: string | undefined,
    corsHeaders: Record<string, string>,
    connectionClose: boolean,
  ): void {
    if (responseGone(res)) {
      this.log.debug({ status: answer.status }, 'client went away before its reply; reply dropped');
      return;
    }
    const length = Buffer.byteLength(answer.body, 'utf8');
    const coding = length >= this.compressMinBytes ? negotiateEncoding(acceptEncoding) : undefined;
    // One headers object per reply, written by node as it is (no copy on the way).
    const headers: OutgoingHttpHeaders = {};
    for (const name in corsHeaders) headers[name] = corsHeaders[name];
    headers['Content-Type'] = answer.contentType;
    headers['Cache-Control'] = 'no-store';
    headers.Vary = corsHeaders.Vary ? `Accept-Encoding, ${corsHeaders.Vary}` : 'Accept-Encoding';
    // HTTP/2 has no Connection header (RFC 9113 §8.2.2); discardRest resets the stream instead.
    if (connectionClose && !isHttp2(res)) headers.Connection = 'close';
    // Uncompressed, the body goes out as a string: node:http then writes headers and body with
    // one write instead of a writev of two buffers.
    if (coding === undefined) return this.write(res, answer.status, headers, answer.body, length);
    const raw = Buffer.from(answer.body, 'utf8');
    if (raw.length < ASYNC_COMPRESS_BYTES) {
      return this.send(res, answer.status, { ...headers, 'Content-Encoding': coding }, compressSync(raw, coding));
    }
    this.compressLarge(res, answer.status, headers, raw, coding);
  }

  /** A short text answer for anything that is not a BOSH request; an unread body is dropped. */
  sendText(req: HttpRequest, res: HttpResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
    const unread = !req.complete;
    const close = unread && !isHttp2(res) ? { Connection: 'close' } : {};
    this.send(res, status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers, ...close }, Buffer.from(text));
    if (unread) discardRest(req, this.discardBytes);
  }

  send(res: HttpResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer | string | undefined): void {
    this.write(res, status, { ...headers }, body);
  }

  /** send(), writing `headers` itself (the caller's own object, not kept). */
  private write(res: HttpResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer | string | undefined, length?: number): void {
    if (responseGone(res) || res.headersSent) return;
    // B-05: a length on every reply that may have a body (RFC 9110 §8.6: none on a 204); over
    // HTTP/2 too, where it is the DATA frames' total.
    if (status !== 204) headers['Content-Length'] = length ?? (body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length);
    if (this.closing && !isHttp2(res)) headers.Connection = 'close';
    res.writeHead(status, headers);
    if (body === undefined) res.end();
    else if (typeof body === 'string') res.end(body, 'utf8');
    else res.end(body);
  }

  private compressLarge(res: HttpResponse, status: number, headers: OutgoingHttpHeaders, raw: Buffer, coding: ContentCoding): void {
    compress(raw, coding).then(
      (compressed) => this.send(res, status, { ...headers, 'Content-Encoding': coding }, compressed),
      (err: unknown) => {
        this.log.warn({ err, coding }, 'response compression failed; sent uncompressed');
        this.send(res, status, headers, raw);
      },
    );
  }
}
