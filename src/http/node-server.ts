import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { CmConfig, HttpTlsConfig } from '../config.js';
import type { HttpRequest, HttpResponse } from './messages.js';

export type Scheme = 'http' | 'https';

/**
 * Streams one HTTP/2 connection may carry at once. A browser puts every tab of an origin on one
 * connection, and each tab holds one or two BOSH requests (`hold` + 1), so 256 leaves room for
 * ~100 tabs; node's default (unlimited, 2^32-1) is no bound at all.
 */
export const MAX_CONCURRENT_STREAMS = 256;

/**
 * node:http, node:https or node:http2 (with HTTP/1.1 fallback), as `http.tls` and `http.http2`
 * say. Without `http.tls`: plain HTTP/1.1. With it: HTTPS, and with `http.http2` HTTP/2 and
 * HTTP/1.1 on the same port, chosen by ALPN; both reach the same `onRequest`.
 */
export function createNodeServer(
  config: CmConfig,
  onRequest: (req: HttpRequest, res: HttpResponse) => void,
): { server: Server; scheme: Scheme; protocols: string[] } {
  const tls = config.http.tls;
  if (tls === null) return { server: createServer(onRequest), scheme: 'http', protocols: ['http/1.1'] };
  // A TLS handshake is part of the first request's headers (`http.headersTimeoutS`); node's default is 120 s.
  const handshake = config.http.headersTimeoutS > 0 ? { handshakeTimeout: config.http.headersTimeoutS * 1000 } : {};
  const secure = { ...readTlsFiles(tls), ...handshake };
  if (!config.http.http2) {
    return { server: createHttpsServer({ ...secure, ALPNProtocols: ['http/1.1'] }, onRequest), scheme: 'https', protocols: ['http/1.1'] };
  }
  // allowHTTP1: clients without ALPN h2 get HTTP/1.1 on the same port, through the same handler.
  const server = createSecureServer({ ...secure, allowHTTP1: true, settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, onRequest);
  return { server, scheme: 'https', protocols: ['h2', 'http/1.1'] };
}

function readTlsFiles(tls: HttpTlsConfig): SecureContextOptions {
  const read = (field: keyof HttpTlsConfig, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read http.tls.${field} ${JSON.stringify(file)}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    cert: read('certFile', tls.certFile),
    key: read('keyFile', tls.keyFile),
    ...(tls.caFile !== undefined ? { ca: read('caFile', tls.caFile) } : {}),
  };
}
