import type { LogLevel } from './log.js';
import type { TlsPolicy } from './xmpp/types.js';

/** How to reach the XMPP server of one served domain (docs/design.md D22). */
export interface DomainConfig {
  /** Fixed upstream host; when absent: `_xmpp-client._tcp.<domain>` SRV, then the domain itself. */
  host?: string;
  /** Upstream port for a fixed host or the SRV fallback. @default 5222 */
  port?: number;
  /** STARTTLS to the server. @default 'required' */
  tls: TlsPolicy;
  /** PEM file with extra CA certificates trusted for this domain's server. */
  caFile?: string;
  /** Do not verify the server certificate (testing only). @default false */
  insecure: boolean;
}

/** Certificate and key the BOSH endpoint serves HTTPS with (`http.tls`). */
export interface HttpTlsConfig {
  /** PEM file: the server certificate, optionally followed by its intermediate CA certificates. */
  certFile: string;
  /** PEM file: the certificate's private key (unencrypted). */
  keyFile: string;
  /** PEM file of intermediate CA certificates sent after the certificate (when certFile has none). */
  caFile?: string;
}

/** Every option of the CM, with the defaults of `DEFAULT_CONFIG`. */
export interface CmConfig {
  http: {
    /** @default '127.0.0.1' */
    host: string;
    /** @default 5280 (IANA "xmpp-bosh") */
    port: number;
    /** @default '/http-bind' */
    path: string;
    /** Largest accepted request body (after decompression), bytes. @default 262144 */
    maxBodyBytes: number;
    /** Responses at least this large are compressed when the client accepts gzip/deflate. @default 1024 */
    compressMinBytes: number;
    /**
     * Behind a reverse proxy: take the client address from the last `X-Forwarded-For` entry and
     * "over TLS" from `X-Forwarded-Proto: https`. Only enable when every request comes through
     * the proxy, or clients can spoof their address. @default false
     */
    trustProxy: boolean;
    /** Path of the Prometheus metrics page on the same listener; '' = no metrics page. @default '/metrics' */
    metricsPath: string;
    /**
     * HTTPS for clients: PEM files of the certificate (chain) and its private key; `caFile` holds
     * intermediate CA certificates sent after the certificate. null = plain HTTP. @default null
     */
    tls: HttpTlsConfig | null;
    /**
     * With `tls`: HTTP/2 (ALPN h2) and HTTP/1.1 on the same port, so that a browser's tabs share
     * one connection instead of its ~6 per host. false = HTTPS with HTTP/1.1 only. @default true
     */
    http2: boolean;
  };
  cors: {
    /** Allowed `Origin`s: exact origins, or '*' for any. @default ['*'] */
    origins: string[];
    /** `Access-Control-Max-Age` of preflight answers, seconds. @default 86400 */
    maxAgeS: number;
  };
  /** Served XMPP domains; a `to` outside this map gets `host-unknown`. @default { localhost: {...} } */
  domains: Record<string, DomainConfig>;
  /** `route` targets (`host:port`) clients may ask for; empty = `route` ignored (B-20). @default [] */
  allowedRoutes: string[];
  bosh: {
    /** Upper bound for the negotiated `wait`, seconds. @default 120 */
    maxWaitS: number;
    /** Upper bound for the negotiated `hold`. @default 1 */
    maxHold: number;
    /** Advertised `inactivity`, seconds. @default 60 */
    inactivityS: number;
    /** Advertised `polling`: shortest interval between empty polls, seconds. @default 2 */
    pollingS: number;
    /** Advertised `maxpause`, seconds. @default 120 */
    maxPauseS: number;
    /** Most concurrent sessions; creation beyond gets `policy-violation`. @default 10000 */
    maxSessions: number;
    /** Most bytes of stanzas queued for a session that has no request to answer (D15). @default 1048576 */
    maxQueueBytes: number;
    /** Session creations allowed per client address per minute (D3); 0 = unlimited. @default 120 */
    creationsPerMinute: number;
    /** Creations an address may make in a burst before the per-minute rate applies. @default 30 */
    creationBurst: number;
  };
  /** Shared BOSH (`urn:xmpp:tmp:shared-bosh:0`). */
  shared: {
    /** Most sessions attached to one upstream link (D8). @default 16 */
    maxMembers: number;
    /** Origins allowed to attach (D5); null = whatever `cors.origins` allows. @default null */
    attachOrigins: string[] | null;
    /** Events kept for `shared:since` replay (D14b). @default 1000 */
    replayEvents: number;
    /** Oldest event kept for replay, seconds (D14b). @default 120 */
    replayS: number;
  };
  upstream: {
    /** Give up connecting to the XMPP server after this long, ms. @default 15000 */
    connectTimeoutMs: number;
    /** Largest top-level element accepted from the server, bytes. @default 1048576 */
    maxStanzaBytes: number;
  };
  /** @default 'info' */
  logLevel: LogLevel;
}

export const DEFAULT_CONFIG: CmConfig = {
  http: {
    host: '127.0.0.1',
    port: 5280,
    path: '/http-bind',
    maxBodyBytes: 262_144,
    compressMinBytes: 1024,
    trustProxy: false,
    metricsPath: '/metrics',
    tls: null,
    http2: true,
  },
  cors: { origins: ['*'], maxAgeS: 86_400 },
  domains: { localhost: { tls: 'required', insecure: false } },
  allowedRoutes: [],
  bosh: {
    maxWaitS: 120,
    maxHold: 1,
    inactivityS: 60,
    pollingS: 2,
    maxPauseS: 120,
    maxSessions: 10_000,
    maxQueueBytes: 1_048_576,
    creationsPerMinute: 120,
    creationBurst: 30,
  },
  shared: { maxMembers: 16, attachOrigins: null, replayEvents: 1000, replayS: 120 },
  upstream: { connectTimeoutMs: 15_000, maxStanzaBytes: 1_048_576 },
  logLevel: 'info',
};
