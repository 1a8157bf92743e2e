import type { ServerHttp2Session } from 'node:http2';
import type { Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Scheme } from './node-server.js';

/** The open connections, by kind, for close(). */
export interface Connections {
  /** At the start of close(): idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY (open streams go on). */
  closeIdle(): void;
  /** No reply is owed any more (or the wait is over): every HTTP/1.1 connection closes. */
  closeHttp1(): void;
  /** The deadline: every socket still open is destroyed, HTTP/2 sessions and handshakes included. */
  destroyAll(): void;
}

export function trackConnections(server: Server, scheme: Scheme): Connections {
  const sockets = new Set<Socket>();
  const http1 = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  const track = <T extends { once(event: 'close', listener: () => void): unknown }>(set: Set<T>, item: T): void => {
    set.add(item);
    item.once('close', () => set.delete(item));
  };
  server.on('connection', (socket: Socket) => {
    track(sockets, socket);
    if (scheme === 'http') track(http1, socket);
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol !== 'h2') track(http1, socket);
  });
  server.on('session', (session: ServerHttp2Session) => track(sessions, session));
  return {
    closeIdle() {
      // node:http and node:https know which of their connections are idle; http2's HTTP/1.1 fallback waits for closeHttp1().
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      for (const session of sessions) session.close();
    },
    closeHttp1() {
      for (const socket of http1) socket.destroy();
    },
    destroyAll() {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}
