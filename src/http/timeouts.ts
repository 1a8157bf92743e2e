import type { Duplex } from 'node:stream';
import type { Server } from 'node:net';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Clock } from '../clock.js';
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
 * `http.requestTimeoutS` for one HTTP/2 stream, from its headers until its body is complete:
 * then 408 (unless a reply went out already) and the stream is reset; the session goes on.
 */
export function armStreamTimeout(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  timeoutMs: number,
  clock: Clock,
  replies: ReplyWriter,
  onTimeout: () => void,
): void {
  if (req.complete) return;
  const timer = clock.setTimeout(() => {
    onTimeout();
    replies.sendText(req, res, 408, 'Request Timeout\n');
    abortRequest(req);
  }, timeoutMs);
  // Both listeners go as soon as either fires: a held request (body complete, answer pending
  // for up to `wait` seconds) would otherwise keep the other one, this closure and the
  // cancelled timer (about 0.4 KiB) until it is answered.
  const disarm = (): void => {
    timer.cancel();
    req.off('end', disarm);
    res.off('close', disarm);
  };
  req.once('end', disarm);
  res.once('close', disarm);
}
