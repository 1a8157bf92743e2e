import type { BlockList } from 'node:net';
import type { HttpRequest, HttpResponse } from './messages.js';
import { peerOn } from './peer.js';
import type { ReplyWriter } from './reply-writer.js';

/**
 * Probes for process supervisors and load balancers on the BOSH listener (docs/operations.md):
 * `http.healthPath` (liveness: the process serves HTTP) and `http.readyPath` (readiness: it listens,
 * is not stopping, and every served domain's XMPP server passed the last upstream check). Plain
 * text, never cached, and no CORS headers: browsers have no business reading them.
 */

/** What the readiness probe reports, from the composition root (the upstream checks). */
export interface Readiness {
  ready: boolean;
  /** One line per served domain (or per reason for not being ready). */
  lines: string[];
}

export interface HealthPaths {
  /** '' = not served. */
  healthPath: string;
  /** '' = not served. */
  readyPath: string;
}

export interface HealthReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

/**
 * The answer to a request for `pathname`, or undefined when it is not a probe path. `closing`:
 * the server is shutting down, so it is alive but no longer ready (a load balancer then sends
 * new clients elsewhere while held requests finish).
 */
export function healthReply(
  pathname: string,
  method: string | undefined,
  paths: HealthPaths,
  readiness: (() => Readiness) | undefined,
  closing: boolean,
): HealthReply | undefined {
  const isHealth = paths.healthPath !== '' && pathname === paths.healthPath;
  const isReady = paths.readyPath !== '' && pathname === paths.readyPath;
  if (!isHealth && !isReady) return undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, headers: { ...NO_STORE, Allow: 'GET, HEAD' }, body: 'Method Not Allowed\n' };
  }
  if (isHealth) return { status: 200, headers: NO_STORE, body: 'ok\n' };
  if (closing) return { status: 503, headers: NO_STORE, body: 'not ready\nshutting down\n' };
  const state = readiness?.() ?? { ready: true, lines: [] };
  const body = [state.ready ? 'ready' : 'not ready', ...state.lines].join('\n') + '\n';
  return { status: state.ready ? 200 : 503, headers: NO_STORE, body };
}

/**
 * Serves the probes. Everyone gets the status and its first line; the per-domain lines (server
 * addresses, error messages) only go to the addresses of `metrics.allow`, like the metrics page.
 */
export class HealthEndpoint {
  constructor(
    private readonly paths: HealthPaths,
    private readonly readiness: (() => Readiness) | undefined,
    private readonly allow: BlockList,
    private readonly trustProxy: boolean,
    private readonly replies: ReplyWriter,
  ) {}

  /** Answers a probe; false when `pathname` is not a probe path. */
  handle(pathname: string, req: HttpRequest, res: HttpResponse): boolean {
    const reply = healthReply(pathname, req.method, this.paths, this.readiness, this.replies.closing);
    if (reply === undefined) return false;
    const details = peerOn(this.allow, req, this.trustProxy).listed;
    this.replies.sendText(req, res, reply.status, details ? reply.body : reply.body.slice(0, reply.body.indexOf('\n') + 1), reply.headers);
    return true;
  }
}
