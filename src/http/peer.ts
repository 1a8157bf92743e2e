import { isIP, type BlockList } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { header, type HttpRequest } from './messages.js';

/**
 * The client's address: the socket's peer, or behind a trusted reverse proxy (`http.trustProxy`)
 * the last `X-Forwarded-For` entry, the address our own proxy saw (earlier ones are client-supplied).
 */
export function remoteAddressOf(req: HttpRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = header(req, 'x-forwarded-for')?.split(',').pop()?.trim();
    if (forwarded) return unmapIPv4(forwarded);
  }
  return unmapIPv4(req.socket.remoteAddress ?? '');
}

/** Whether the client address of `req` (as remoteAddressOf gives it) is on `allow`; the address too, for logs. */
export function peerOn(allow: BlockList, req: HttpRequest, trustProxy: boolean): { address: string; listed: boolean } {
  const address = remoteAddressOf(req, trustProxy);
  const family = isIP(address);
  return { address, listed: family !== 0 && allow.check(address, family === 6 ? 'ipv6' : 'ipv4') };
}

/** Whether the request came over TLS, to us or (`http.trustProxy`) to our reverse proxy. */
export function isSecure(req: HttpRequest, trustProxy: boolean): boolean {
  // HTTP/2: `req.socket` stands for the session's TLS socket.
  if ((req.socket as TLSSocket).encrypted === true) return true;
  if (!trustProxy) return false;
  return header(req, 'x-forwarded-proto')?.split(',').pop()?.trim().toLowerCase() === 'https';
}

/** '::ffff:192.0.2.1' -> '192.0.2.1', so limits and logs see one form of an IPv4 address. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
