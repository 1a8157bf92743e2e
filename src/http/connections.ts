import type { ServerHttp2Session } from 'node:http2';
import type { Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isHttp2, type HttpRequest, type HttpResponse } from './messages.js';
import type { Scheme } from './node-server.js';
import { unmapIPv4 } from './peer.js';
import type { Refusals } from './refusals.js';

export interface ConnectionLimits {
  /** Most open connections right now: `http.maxConnections` and the descriptor budget. */
  budget(): number;
  /** `http.maxConnectionsPerAddress`, by the socket's peer address; 0 = unlimited. */
  perAddress: number;
  /** `http.maxRequestsPerAddress`, by the client address (X-Forwarded-For with trustProxy); 0 = unlimited. */
  requestsPerAddress: number;
}

/**
 * The server's connections: admitted within the limits at accept, counted per address, closed
 * when idle (`http.idleTimeoutS`, node's 'timeout' event) unless a request on them is still in
 * progress (a held BOSH request is silent for up to `wait` seconds), and closed by close().
 * An HTTP/2 session is one connection whatever its streams.
 */
export class Connections {
  private readonly sockets = new Set<Socket>();
  private readonly http1 = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly byAddress = new Map<string, number>();
  private readonly requestsByAddress = new Map<string, number>();
  /** Requests in progress per HTTP/1.x socket or HTTP/2 session. */
  private readonly busy = new WeakMap<object, number>();
  /** A counted response's 'close' listener (one function for all: `this` is the response). */
  private readonly requestDone: (this: Counted) => void;

  constructor(
    private readonly server: Server,
    scheme: Scheme,
    private readonly limits: ConnectionLimits,
    private readonly refusals: Refusals,
  ) {
    // One 'close' listener for all sockets (and one for all sessions), not two closures per connection.
    const sockets = this.sockets;
    const http1 = this.http1;
    const sessions = this.sessions;
    const socketClosed = function (this: Socket): void {
      sockets.delete(this);
      http1.delete(this);
    };
    server.on('connection', (socket: Socket) => {
      if (!this.admit(socket)) return;
      sockets.add(socket);
      if (scheme === 'http') http1.add(socket);
      socket.on('close', socketClosed);
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') return;
      http1.add(socket);
      socket.on('close', socketClosed);
    });
    const { busy, requestsByAddress } = this;
    this.requestDone = function (this: Counted): void {
      const address = this[COUNTED_ADDRESS];
      if (address !== undefined) decrement(requestsByAddress, address);
      const connection = this[COUNTED_CONNECTION];
      if (connection) busy.set(connection, (busy.get(connection) ?? 1) - 1);
      this[COUNTED_CONNECTION] = undefined;
      this[COUNTED_ADDRESS] = undefined;
    };
    const sessionClosed = function (this: ServerHttp2Session): void {
      sessions.delete(this);
    };
    server.on('session', (session: ServerHttp2Session) => {
      sessions.add(session);
      session.on('close', sessionClosed);
      // node passes a session's first timeout to the server, then drops its listener: ours stays.
      session.on('timeout', () => this.onIdle(session));
    });
    server.on('timeout', (connection: Socket | ServerHttp2Session) => {
      if (!this.sessions.has(connection as ServerHttp2Session)) this.onIdle(connection);
    });
  }

  /** Open client connections (sockets, whatever their protocol). */
  get size(): number {
    return this.sockets.size;
  }

  /**
   * Counts a request against its address and its connection until its response closes;
   * false (nothing counted) when the address is at `requestsPerAddress`.
   */
  admitRequest(req: HttpRequest, res: HttpResponse, address: string): boolean {
    const limit = this.limits.requestsPerAddress;
    const requests = this.requestsByAddress.get(address) ?? 0;
    if (limit > 0 && requests >= limit) {
      this.refusals.refuse('requests-per-address', address);
      return false;
    }
    const connection = isHttp2(res) ? res.stream.session : req.socket;
    // Without a per-address limit there is nothing to count by address.
    if (limit > 0) this.requestsByAddress.set(address, requests + 1);
    if (connection) this.busy.set(connection, (this.busy.get(connection) ?? 0) + 1);
    // What the one shared 'close' listener needs, on the response: no closure per request.
    const counted = res as Counted;
    counted[COUNTED_CONNECTION] = connection;
    counted[COUNTED_ADDRESS] = limit > 0 ? address : undefined;
    res.on('close', this.requestDone);
    return true;
  }

  /** At the start of close(): idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY (open streams go on). */
  closeIdle(): void {
    // node:http and node:https know which of their connections are idle; http2's HTTP/1.1 fallback waits for closeHttp1().
    (this.server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    for (const session of this.sessions) session.close();
  }

  /** No reply is owed any more (or the wait is over): every HTTP/1.1 connection closes. */
  closeHttp1(): void {
    for (const socket of this.http1) socket.destroy();
  }

  /** The deadline: every socket still open is destroyed, HTTP/2 sessions and handshakes included. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  /** A new TCP connection: closed at once beyond the global or the per-address limit. */
  private admit(socket: Socket): boolean {
    const address = unmapIPv4(socket.remoteAddress ?? '');
    if (this.sockets.size >= this.limits.budget()) {
      this.refusals.refuse('connections', address);
      socket.destroy();
      return false;
    }
    const limit = this.limits.perAddress;
    if (limit === 0) return true;
    const open = this.byAddress.get(address) ?? 0;
    if (open >= limit) {
      this.refusals.refuse('connections-per-address', address);
      socket.destroy();
      return false;
    }
    this.byAddress.set(address, open + 1);
    socket.once('close', () => decrement(this.byAddress, address));
    return true;
  }

  /** `http.idleTimeoutS` passed without traffic: close the connection unless a request is in progress. */
  private onIdle(connection: Socket | ServerHttp2Session): void {
    if ((this.busy.get(connection) ?? 0) > 0) return;
    if (this.sessions.has(connection as ServerHttp2Session)) (connection as ServerHttp2Session).close();
    else connection.destroy();
  }
}

const COUNTED_CONNECTION = Symbol('countedConnection');
const COUNTED_ADDRESS = Symbol('countedAddress');
/** A response counted by admitRequest: its connection, and its address when counted by address. */
type Counted = HttpResponse & { [COUNTED_CONNECTION]?: object | undefined; [COUNTED_ADDRESS]?: string | undefined };

function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
