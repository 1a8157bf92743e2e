import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2, Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/**
 * A request as the BOSH endpoint sees it: HTTP/1.x (node:http, node:https) or HTTP/2 through
 * node's compatibility API, whose Http2ServerRequest/Response mirror IncomingMessage and
 * ServerResponse in everything this folder uses except the few helpers below.
 */
export type HttpRequest = IncomingMessage | Http2ServerRequest;
export type HttpResponse = ServerResponse | Http2ServerResponse;

export function isHttp2(res: HttpResponse): res is Http2ServerResponse {
  return res instanceof Http2ServerResponse;
}

/** The response can no longer be written: the client went away (HTTP/1.x socket or HTTP/2 stream). */
export function responseGone(res: HttpResponse): boolean {
  return isHttp2(res) ? res.stream.destroyed || res.stream.closed : res.destroyed;
}

/**
 * The request ended because the client reset it. HTTP/2 only: node ends an Http2ServerRequest
 * ('end') also after RST_STREAM, so a truncated body would pass for a whole one; node:http
 * never ends an aborted IncomingMessage.
 */
export function requestAborted(req: HttpRequest): boolean {
  return req instanceof Http2ServerRequest && req.aborted;
}

/**
 * Stops a request we have answered but whose client keeps uploading: HTTP/1.x closes the
 * connection; HTTP/2 resets only this stream, with NO_ERROR since the reply is complete
 * (RFC 9113 §8.1), and the other requests on the connection go on.
 */
export function abortRequest(req: HttpRequest): void {
  if (req instanceof Http2ServerRequest) req.stream.close(h2.NGHTTP2_NO_ERROR);
  else req.socket.destroy();
}

/** A request header as one string (repeated headers joined with ', '). */
export function header(req: HttpRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The request's path, without its query string. */
export function pathOf(req: HttpRequest): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
