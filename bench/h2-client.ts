/**
 * BOSH over HTTP/2 for the load generator, as a browser does it: many sessions' requests as
 * streams on a few TLS connections (at most STREAMS_PER_CONNECTION each; the CM allows 256).
 * The idle-sessions phase uses it for the CM when one HTTP/1.1 connection per held request
 * would not fit RLIMIT_NOFILE (the CM needs a descriptor for the upstream TCP connection too).
 * The server's certificate is the test harness's self-signed one: not verified.
 */
import http2 from 'node:http2';

/** Below the CM's SETTINGS_MAX_CONCURRENT_STREAMS (256), with room for requests overlapping. */
const STREAMS_PER_CONNECTION = 200;

interface Connection {
  session: http2.ClientHttp2Session;
  active: number;
}

const pools = new Map<string, Connection[]>();

/** New HTTP/2 connections opened, per `host:port`. */
export const h2Connects = new Map<string, number>();

function connectionFor(host: string, port: number, poolKey?: string): Connection {
  const key = `${host}:${port}`;
  const poolName = poolKey === undefined ? key : `${key}#${poolKey}`;
  let pool = pools.get(poolName);
  if (!pool) {
    pool = [];
    pools.set(poolName, pool);
  }
  for (const c of pool) {
    if (c.active < STREAMS_PER_CONNECTION && !c.session.closed && !c.session.destroyed) return c;
  }
  const session = http2.connect(`https://${host}:${port}`, { rejectUnauthorized: false, settings: { enablePush: false } });
  const conn: Connection = { session, active: 0 };
  const list = pool;
  const drop = (): void => {
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
  };
  session.on('error', drop);
  session.on('close', drop);
  session.on('goaway', drop);
  list.push(conn);
  h2Connects.set(key, (h2Connects.get(key) ?? 0) + 1);
  return conn;
}

/**
 * One POST as an HTTP/2 stream; resolves with the status and the whole response text. Requests
 * with the same `poolKey` share their own connections (one browser's tabs: bench/tabs.ts); without
 * one, every request to `host:port` shares one pool.
 */
export function postH2(host: string, port: number, path: string, body: string, timeoutMs: number, poolKey?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const conn = connectionFor(host, port, poolKey);
    conn.active++;
    const stream = conn.session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'text/xml; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    let status = 0;
    let text = '';
    let ended = false;
    stream.setEncoding('utf8');
    stream.on('response', (headers) => {
      status = Number(headers[':status'] ?? 0);
    });
    stream.on('data', (chunk: string) => {
      text += chunk;
    });
    stream.on('end', () => {
      ended = true;
      resolve({ status, text });
    });
    stream.on('error', (err) => reject(err));
    stream.on('close', () => {
      conn.active--;
      if (!ended) reject(new Error(`HTTP/2 stream closed without a complete response (code ${stream.rstCode})`));
    });
    stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.end(body);
  });
}

/** Closes every HTTP/2 connection (end of a phase). */
export function closeH2(): void {
  for (const pool of pools.values()) for (const c of pool.splice(0)) c.session.close();
}
