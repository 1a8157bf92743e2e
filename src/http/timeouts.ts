import type { Duplex } from 'node:stream';
import type { Server } from 'node:net';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Deadline, type Clock } from '../clock.js';
import type { CmConfig } from '../config.js';
import { abortRequest } from './messages.js';
import { unmapIPv4 } from './peer.js';
import type { Refusals } from './refusals.js';
import type { ReplyWriter } from './reply-writer.js';

/** How often node looks for HTTP/1.x requests past their headers or request timeout. */
const CHECK_INTERVAL_MS = 1000;

/**
 * `http.headersTimeoutS`, `http.requestTimeoutS` and `http.idleTimeoutS` on the node server.
 *
 * Node 20's `headersTimeout` and `requestTimeout` (HTTP/1.x, also the HTTP/1.1 fallback of the
 * HTTP/2 server) run from a request's first byte (or the connection's start) until the request
 * is complete, and are answered 408 + close: a request whose body has arrived, such as a held
 * BOSH request waiting up to `wait` seconds for its answer, is no longer timed. `timeout`
 * (socket or HTTP/2 session inactivity) would also cut held requests, so its 'timeout' event
 * goes to Connections, which closes only connections without a request in progress. HTTP/2
 * streams have no request timeout in node: see armStreamTimeout.
 */
export function applyTimeouts(server: Server, http: CmConfig['http'], refusals: Refusals): void {
  const node = server as Server & { headersTimeout?: number; requestTimeout?: number; connectionsCheckingInterval?: number; timeout?: number };
  node.requestTimeout = http.requestTimeoutS * 1000;
  node.headersTimeout = http.headersTimeoutS * 1000;
  node.connectionsCheckingInterval = CHECK_INTERVAL_MS;
  node.timeout = http.idleTimeoutS * 1000;
  // Replaces node's default clientError answer, to count and log timeouts; same replies.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number; remoteAddress?: string }) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refusals.refuse('timeout', unmapIPv4(socket.remoteAddress ?? ''));
    const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
    if (err.code !== 'ECONNRESET' && socket.writable && socket.bytesWritten === 0) {
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
}

const CLIENT_ERROR_STATUS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
};

/**
 * `http.requestTimeoutS` for HTTP/2 streams, from their headers until their body is complete:
 * then 408 (unless a reply went out already) and the stream is reset; the session goes on.
 * Like node's own check for HTTP/1.x, one timer serves every stream: a stream whose body is
 * still arriving costs an entry here, not a timer and closures of its own. Every deadline is
 * its arrival plus the same timeout, so the entries are in deadline order and the one timer
 * always waits for the oldest.
 */
export class StreamTimeouts {
  /** Streams whose body is still arriving, oldest first. */
  private readonly pending = new Map<Http2ServerRequest, PendingStream>();
  private readonly deadline: Deadline;
  /** 'end' of a request and 'close' of a response: one listener each for all streams. */
  private readonly ended: (this: Http2ServerRequest) => void;
  private readonly closed: (this: Http2ServerResponse) => void;
  private stopped = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly replies: ReplyWriter,
    private readonly onTimeout: (address: string) => void,
  ) {
    this.deadline = new Deadline(clock, () => this.expire());
    const pending = this.pending;
    this.ended = function (this: Http2ServerRequest): void {
      pending.delete(this);
    };
    this.closed = function (this: Http2ServerResponse): void {
      pending.delete(this.req);
    };
  }

  /** Times `req` (from `address`) until its body is complete or its response closes. */
  arm(req: Http2ServerRequest, res: Http2ServerResponse, address: string): void {
    if (req.complete || this.stopped) return;
    const at = this.clock.now() + this.timeoutMs;
    this.pending.set(req, { res, address, at });
    req.on('end', this.ended);
    res.on('close', this.closed);
    if (!this.deadline.set) this.deadline.setAt(at);
  }

  /** The server has closed: no timer is left behind. */
  stop(): void {
    this.stopped = true;
    this.pending.clear();
    this.deadline.cancel();
  }

  private expire(): void {
    const now = this.clock.now();
    for (const [req, stream] of this.pending) {
      if (stream.at > now) {
        this.deadline.setAt(stream.at);
        return;
      }
      this.pending.delete(req);
      this.onTimeout(stream.address);
      this.replies.sendText(req, stream.res, 408, 'Request Timeout\n');
      abortRequest(req);
    }
  }
}

interface PendingStream {
  res: Http2ServerResponse;
  address: string;
  at: number;
}
