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

const HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };

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
    return { status: 405, headers: { ...HEADERS, Allow: 'GET, HEAD' }, body: 'Method Not Allowed\n' };
  }
  if (isHealth) return { status: 200, headers: HEADERS, body: 'ok\n' };
  if (closing) return { status: 503, headers: HEADERS, body: 'not ready\nshutting down\n' };
  const state = readiness?.() ?? { ready: true, lines: [] };
  const body = [state.ready ? 'ready' : 'not ready', ...state.lines].join('\n') + '\n';
  return { status: state.ready ? 200 : 503, headers: HEADERS, body };
}
