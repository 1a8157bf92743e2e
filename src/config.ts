import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/**
 * Every option of the CM, declared once: its type and range (zod), its default, its environment
 * variable and flag, and the words that `--help` and docs/configuration.md show. `CmConfig` is
 * inferred from the schema, `DEFAULT_CONFIG` is the schema's defaults, and `options()` lists the
 * declarations for the loader (src/config-load.ts), the help text and the docs table
 * (src/config-docs.ts).
 */

/** How a value given as text (environment, flags) becomes the key's type. `file`: a path, made absolute. */
export type OptionKind = 'int' | 'string' | 'file' | 'bool' | 'list' | 'enum';

/** The docs' sections, in the order docs/configuration.md shows them. */
export const SECTIONS = {
  http: 'HTTP endpoint',
  limits: 'Connection limits and timeouts',
  metrics: 'Metrics page',
  cors: 'CORS (browsers on other origins)',
  domains: 'Served XMPP domains',
  bosh: 'BOSH sessions',
  shared: 'Shared BOSH',
  upstream: 'Upstream XMPP streams and logging',
} as const;
export type Section = keyof typeof SECTIONS;

/** What a declaration says besides its type and default. */
export type OptionMeta = {
  /** Environment variable; absent for a group that only the config file sets (`http.tls`). */
  env?: string;
  flag?: string;
  kind?: OptionKind;
  /** Placeholder of the value in `--help` and the docs (`PORT`, `FILE`, ...). */
  value?: string;
  /** One or two sentences for `--help`. */
  description: string;
  /** The docs table's "meaning" column, when it says more than `description`. */
  details?: string;
  /** Shown as the default when it is not a plain value (`(none: plain HTTP)`). */
  defaultText?: string;
  section: Section;
  /** A per-domain key: its meaning in the config file (the flag and variable set every domain). */
  fileDescription?: string;
};

/** One declared option, found by walking the schema. */
export interface OptionSpec extends OptionMeta {
  /** Dotted config-file key; `domains.*.field` for a per-domain key. */
  key: string;
  /** For a per-domain key: the field of DomainConfig. */
  field?: string;
  /** The zod schema of the value (defaults, nullability and optionality unwrapped). */
  schema: z.ZodType;
}

const meta = (m: OptionMeta) => m;

// ---- value types: each message says what is expected (config-load adds key, value and source)

const intIn = (min: number, max: number = Number.MAX_SAFE_INTEGER) => {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer ${min}..${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const text = () => z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });
const bool = () => z.boolean({ error: 'must be true or false' });
const list = () => z.array(z.string({ error: 'must be a string' }), { error: 'must be a list' });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be one of ${values.join(', ')}` });
const urlPath = () => text().regex(/^\/[^\s?#]*$/, { error: "must start with '/' and have no spaces, '?' or '#'" });
/** A path served on the listener besides the BOSH endpoint; '' = not served. */
const optionalPath = () =>
  z.string({ error: 'must be a string' }).regex(/^(\/[^\s?#]*)?$/, { error: "must be '' or start with '/' and have no spaces, '?' or '#'" });
/** A file every `http.tls` needs: its absence is reported as such rather than as a type error. */
const pemFile = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `must name the PEM file of ${what} when http.tls is used` : 'must be a string') })
    .min(1, { error: 'must not be empty' });
/** A group of keys: unknown keys are errors; missing keys take their defaults. */
const group = <T extends z.core.$ZodLooseShape>(shape: T) => z.strictObject(shape, { error: 'must be a mapping' });

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const TLS_POLICIES = ['required', 'optional', 'off'] as const;

// ---- the options

const httpTlsSchema = group({
  certFile: pemFile('the certificate').meta(meta({
    env: 'SHARED_BOSH_TLS_CERT_FILE', flag: 'tls-cert-file', kind: 'file', value: 'FILE', section: 'http', defaultText: '(none: plain HTTP)',
    description: 'Serve HTTPS: PEM file of the certificate clients see (followed by any intermediate CA certificates). Needs http.tls.keyFile.',
    details: 'PEM file of the certificate clients see, optionally followed by its intermediate CA certificates (a "fullchain" file). Needs `http.tls.keyFile`.',
  })),
  keyFile: pemFile('the private key').meta(meta({
    env: 'SHARED_BOSH_TLS_KEY_FILE', flag: 'tls-key-file', kind: 'file', value: 'FILE', section: 'http', defaultText: '(none)',
    description: 'PEM file of the private key of http.tls.certFile (unencrypted).',
    details: "PEM file of the certificate's private key, unencrypted.",
  })),
  caFile: text().optional().meta(meta({
    env: 'SHARED_BOSH_TLS_CA_FILE', flag: 'tls-ca-file', kind: 'file', value: 'FILE', section: 'http', defaultText: '(none)',
    description: 'PEM file of intermediate CA certificates sent after the certificate, when http.tls.certFile holds only its own.',
    details: "PEM file of intermediate CA certificates sent after the certificate, for a `certFile` that holds only the server's own certificate.",
  })),
});

const domainSchema = group({
  host: text().optional().meta(meta({
    env: 'SHARED_BOSH_UPSTREAM_HOST', flag: 'upstream-host', kind: 'string', value: 'HOST', section: 'domains', defaultText: '(SRV, else the domain)',
    description: 'XMPP server host of every served domain; unset: DNS SRV _xmpp-client._tcp.<domain>, else <domain> itself.',
    fileDescription: 'XMPP server host of this domain; unset: DNS SRV _xmpp-client._tcp.<name>, else <name> itself.',
    details: 'Fixed host of the XMPP server. When unset, the CM looks up the DNS SRV record `_xmpp-client._tcp.<name>` and falls back to `<name>` itself.',
  })),
  port: intIn(1, 65535).optional().meta(meta({
    env: 'SHARED_BOSH_UPSTREAM_PORT', flag: 'upstream-port', kind: 'int', value: 'PORT', section: 'domains', defaultText: '5222',
    description: 'XMPP server port, for a fixed host or the SRV fallback.',
    details: 'Server port, used for a fixed host or for the SRV fallback.',
  })),
  tls: oneOf(TLS_POLICIES).default('required').meta(meta({
    env: 'SHARED_BOSH_TLS', flag: 'tls', kind: 'enum', value: 'MODE', section: 'domains',
    description: 'STARTTLS to the XMPP server: required (fail without it), optional (when offered) or off (only for a server on loopback or a trusted network).',
    details: 'STARTTLS to the server. `required` fails when the server does not offer it. `optional` uses it when offered. `off` never uses it, and suits only a server on loopback or a trusted network (XEP-0124 §19.2).',
  })),
  caFile: text().optional().meta(meta({
    env: 'SHARED_BOSH_CA_FILE', flag: 'ca-file', kind: 'file', value: 'FILE', section: 'domains', defaultText: '(system CAs)',
    description: "PEM file of extra CA certificates to trust for the XMPP server's certificate (which is verified against the domain).",
    details: "PEM file of extra CA certificates to trust for the server's certificate, which is still verified against the domain name. In a config file, a relative path is relative to that file.",
  })),
  insecure: bool().default(false).meta(meta({
    env: 'SHARED_BOSH_INSECURE', flag: 'insecure', kind: 'bool', value: 'BOOL', section: 'domains',
    description: "Do not verify the XMPP server's certificate. For tests only.",
    details: "Do not verify the server's certificate. Use it for tests only.",
  })),
});

export const configSchema = group({
  http: group({
    host: text().default('127.0.0.1').meta(meta({
      env: 'SHARED_BOSH_HOST', flag: 'host', kind: 'string', value: 'ADDR', section: 'http',
      description: 'Address to listen on (0.0.0.0 or :: for every interface).',
      details: 'Address to listen on. Use `0.0.0.0` or `::` for every interface.',
    })),
    port: intIn(0, 65535).default(5280).meta(meta({
      env: 'SHARED_BOSH_PORT', flag: 'port', kind: 'int', value: 'PORT', section: 'http',
      description: 'TCP port to listen on; 0 picks a free one.',
      details: 'TCP port (IANA "xmpp-bosh"). `0` picks a free port, and the startup line shows which.',
    })),
    path: urlPath().default('/http-bind').meta(meta({
      env: 'SHARED_BOSH_PATH', flag: 'path', kind: 'string', value: 'PATH', section: 'http',
      description: 'URL path of the BOSH endpoint.',
      details: 'URL path of the BOSH endpoint. The path with a trailing `/` and with a query string is answered too.',
    })),
    maxBodyBytes: intIn(1024, 1 << 30).default(262_144).meta(meta({
      env: 'SHARED_BOSH_MAX_BODY_BYTES', kind: 'int', value: 'BYTES', section: 'http',
      description: 'Largest request body, counted before and after gzip/deflate decoding; larger ones end the session with policy-violation.',
      details: 'Largest request body (1024 .. 2^30). It is checked on the bytes received and again after gzip/deflate decoding. A larger body ends its session with `policy-violation`.',
    })),
    compressMinBytes: intIn(0).default(1024).meta(meta({
      env: 'SHARED_BOSH_COMPRESS_MIN_BYTES', kind: 'int', value: 'BYTES', section: 'http',
      description: 'Responses at least this large are gzip/deflate-compressed when the client accepts it.',
      details: "A response at least this long is compressed with gzip or deflate when the request's `Accept-Encoding` allows it. `0` compresses every response.",
    })),
    trustProxy: bool().default(false).meta(meta({
      env: 'SHARED_BOSH_TRUST_PROXY', flag: 'trust-proxy', kind: 'bool', value: 'BOOL', section: 'http',
      description: 'Behind a reverse proxy: client address from the last X-Forwarded-For entry, TLS from X-Forwarded-Proto. Only when every request comes through the proxy.',
      details: 'Use this behind a reverse proxy. The client address comes from the last `X-Forwarded-For` entry, and `X-Forwarded-Proto: https` marks a request as secure. Enable it only when every request comes through the proxy. Otherwise clients can pick their own address and dodge the per-address limits.',
    })),
    metricsPath: optionalPath()
      .default('/metrics').meta(meta({
        env: 'SHARED_BOSH_METRICS_PATH', kind: 'string', value: 'PATH', section: 'http',
        description: "Path of the Prometheus metrics page (counters only: no keys, JIDs or payloads); '' turns it off.",
        details: "Path of the Prometheus metrics page (GET), on the BOSH listener or on its own (`metrics.port`), for the addresses of `metrics.allow` only. It holds counters and gauges only: sessions, links, members per link, attaches, refusals by `shared:error`, echoes, suppressed duplicates, rate-limited creations, upstream stanzas dropped and stream errors sent, open HTTP connections and HTTP refusals by reason; never a key, JID or payload. `''` (in the config file) turns it off. See [Metrics page](#metrics-page).",
      })),
    healthPath: optionalPath().default('/healthz').meta(meta({
      env: 'SHARED_BOSH_HEALTH_PATH', kind: 'string', value: 'PATH', section: 'http',
      description: "Liveness probe: 200 while the process serves HTTP (no CORS headers); '' turns it off.",
      details: "Liveness probe on the same listener (GET/HEAD): `200 ok` while the process serves HTTP. Plain text, `Cache-Control: no-store`, no CORS headers. `''` (in the config file) turns it off. See [operations.md](operations.md#health-and-readiness).",
    })),
    readyPath: optionalPath().default('/readyz').meta(meta({
      env: 'SHARED_BOSH_READY_PATH', kind: 'string', value: 'PATH', section: 'http',
      description: "Readiness probe: 200 when listening, not stopping, and every served domain's XMPP server passed the last upstream check; else 503 with the reason. '' turns it off.",
      details: "Readiness probe (GET/HEAD): `200 ready` when the CM listens, is not shutting down, and every served domain's XMPP server passed the last upstream check (`upstream.checkIntervalS`); else `503 not ready`. For the addresses of `metrics.allow` the body has one line per domain (what passed or failed). `''` turns it off.",
    })),
    tls: httpTlsSchema.nullable().default(null).meta(meta({
      section: 'http', defaultText: 'null',
      description: 'HTTPS for clients: PEM files of the certificate (chain) and its private key. null = plain HTTP.',
      details: 'HTTPS for clients: a mapping with the three keys below. `null` (the default) serves plain HTTP. Setting `certFile` or `keyFile` by variable or flag turns it on. See [HTTPS and HTTP/2](#https-and-http2).',
    })),
    http2: bool().default(true).meta(meta({
      env: 'SHARED_BOSH_HTTP2', kind: 'bool', value: 'BOOL', section: 'http',
      description: "With http.tls: HTTP/2 (ALPN h2) and HTTP/1.1 on the same port, so a browser's tabs share one connection; false: HTTPS over HTTP/1.1 only.",
      details: 'With `http.tls`: HTTP/2 (ALPN `h2`) and HTTP/1.1 on the same port. `false` serves HTTPS over HTTP/1.1 only. Without `http.tls` it has no effect (plain HTTP is always HTTP/1.1).',
    })),
    maxConnections: intIn(0).default(0).meta(meta({
      env: 'SHARED_BOSH_MAX_CONNECTIONS', kind: 'int', value: 'N', section: 'limits',
      description: 'Most open client connections (an HTTP/2 connection counts once); 0: only the descriptor budget (http.maxOpenFiles - http.reservedFiles - upstream links) bounds them. Further connections are closed at once.',
      details: 'Most open client connections. A TCP connection counts once, whatever it carries (an HTTP/2 connection with many streams, a TLS handshake in progress). `0`: only the descriptor budget below bounds them. A connection beyond the limit is closed at once.',
    })),
    maxOpenFiles: intIn(0).default(0).meta(meta({
      env: 'SHARED_BOSH_MAX_OPEN_FILES', kind: 'int', value: 'N', section: 'limits',
      description: "The process's file descriptor limit; 0: the soft RLIMIT_NOFILE read from /proc/self/limits, or 1024 where that cannot be read.",
      details: "The process's file descriptor limit. `0` reads the soft `RLIMIT_NOFILE` from `/proc/self/limits` (Linux; node raises it to the hard limit when it starts). Where that file cannot be read, `1024` is assumed: set the real value on such systems.",
    })),
    reservedFiles: intIn(0).default(128).meta(meta({
      env: 'SHARED_BOSH_RESERVED_FILES', kind: 'int', value: 'N', section: 'limits',
      description: 'Descriptors never used for client connections, so the CM can still open upstream streams and answer near the limit.',
      details: 'Descriptors never used for client connections: listeners, log output, DNS, upstream connections being opened. Client connections are refused once `http.maxOpenFiles - http.reservedFiles - (open upstream links)` are open, so the CM still opens upstream streams and answers its existing clients at the limit.',
    })),
    maxConnectionsPerAddress: intIn(0).default(128).meta(meta({
      env: 'SHARED_BOSH_MAX_CONNECTIONS_PER_ADDRESS', kind: 'int', value: 'N', section: 'limits',
      description: 'Most open connections from one client address; 0 = unlimited. Not applied with http.trustProxy (every connection comes from the proxy).',
      details: 'Most open connections from one client address. `0` means unlimited. A browser opens about 6 connections per host over HTTP/1.1 and one over HTTP/2, so 128 serves an office of 20 browsers behind one NAT address over HTTP/1.1 (many more over HTTP/2). Not applied with `http.trustProxy`, where every connection comes from the proxy: limit connections in the proxy.',
    })),
    maxRequestsPerAddress: intIn(0).default(512).meta(meta({
      env: 'SHARED_BOSH_MAX_REQUESTS_PER_ADDRESS', kind: 'int', value: 'N', section: 'limits',
      description: 'Most requests in progress (held ones included) from one client address; more get 429. 0 = unlimited.',
      details: 'Most requests in progress from one client address, held BOSH requests included (a tab holds up to `hold + 1` = 2). Further requests get **429** with `Retry-After: 1`. `0` means unlimited. With `http.trustProxy` the address is the forwarded one.',
    })),
    headersTimeoutS: intIn(0, 3600).default(10).meta(meta({
      env: 'SHARED_BOSH_HEADERS_TIMEOUT_S', kind: 'int', value: 'SECONDS', section: 'limits',
      description: "A request's headers (and a new connection's first request, TLS handshake included) must arrive within this time, else 408; 0 = no limit.",
      details: "A request's headers must arrive within this many seconds of its first byte. A new connection must finish its TLS handshake and send its first request in this time too. Late requests get **408** and the connection closes. At most `http.requestTimeoutS`. `0`: no limit.",
    })),
    requestTimeoutS: intIn(0, 3600).default(30).meta(meta({
      env: 'SHARED_BOSH_REQUEST_TIMEOUT_S', kind: 'int', value: 'SECONDS', section: 'limits',
      description: 'A request, headers and body, must arrive completely within this time, else 408 and the connection (HTTP/2: the stream) closes; a held request waiting for its answer is not affected. 0 = no limit.',
      details: 'A whole request, headers and body, must arrive within this many seconds. Otherwise it gets **408** and its connection closes (HTTP/2: only its stream is reset). The timer stops when the body is complete: a held request waiting up to `wait` seconds for its answer is never cut. `0`: no limit.',
    })),
    idleTimeoutS: intIn(0, 86_400).default(30).meta(meta({
      env: 'SHARED_BOSH_IDLE_TIMEOUT_S', kind: 'int', value: 'SECONDS', section: 'limits',
      description: 'A connection or HTTP/2 session with no request in progress closes after this long without traffic; 0 = never.',
      details: "A connection or HTTP/2 session with no request in progress closes after this many seconds without traffic. A connection with a held request is not idle. Plain HTTP/1.1 keep-alive connections also close after node's 5 s keep-alive timeout. `0`: never.",
    })),
  }).prefault({}),
  cors: group({
    origins: list().default(['*']).meta(meta({
      env: 'SHARED_BOSH_CORS_ORIGINS', flag: 'cors-origin', kind: 'list', value: 'ORIGIN', section: 'cors',
      description: "Browser origins allowed to use the CM (exact, like https://app.example), or '*' for any. Requests from other origins get 403.",
      details: "Browser origins allowed to use the CM: exact origins such as `https://chat.example.com`, or `'*'` for any. Each origin is stored as scheme://host[:port], so `https://a.example:443/` becomes `https://a.example`.",
    })),
    maxAgeS: intIn(0, 86_400 * 7).default(86_400).meta(meta({
      env: 'SHARED_BOSH_CORS_MAX_AGE_S', kind: 'int', value: 'SECONDS', section: 'cors',
      description: 'How long browsers may cache a CORS preflight answer.',
      details: 'How long, in seconds, browsers may cache a preflight answer (`Access-Control-Max-Age`).',
    })),
  }).prefault({}),
  domains: z.record(z.string(), domainSchema, { error: 'must be a mapping of domain names' }).default({ localhost: { tls: 'required', insecure: false } }).meta(meta({
    env: 'SHARED_BOSH_DOMAINS', flag: 'domain', kind: 'list', value: 'NAME', section: 'domains', defaultText: 'localhost',
    description: 'XMPP domain to serve (repeat the flag, or comma-separate in the variable). Replaces the served domains of the config file; a domain also in the file keeps its settings there.',
    details: 'The XMPP domains served (a map: name -> settings). A creation request whose `to` names any other domain gets `host-unknown`, so the CM is never an open relay.',
  })),
  allowedRoutes: list().default([]).meta(meta({
    env: 'SHARED_BOSH_ALLOWED_ROUTES', kind: 'list', value: 'HOST:PORT', section: 'bosh',
    description: "Targets a client may name in the BOSH 'route' attribute; empty: 'route' is ignored.",
    details: '`host:port` targets that clients may name in the BOSH `route` attribute (`[::1]:5222` for IPv6). When the list is empty, `route` is ignored (B-20).',
  })),
  bosh: group({
    maxWaitS: intIn(1, 3600).default(120).meta(meta({
      env: 'SHARED_BOSH_MAX_WAIT_S', kind: 'int', value: 'SECONDS', section: 'bosh',
      description: "Upper bound for the negotiated 'wait' (how long a request is held).",
      details: 'Upper bound for the negotiated `wait`, in seconds (1 .. 3600).',
    })),
    maxHold: intIn(0, 100).default(1).meta(meta({
      env: 'SHARED_BOSH_MAX_HOLD', kind: 'int', value: 'N', section: 'bosh',
      description: "Upper bound for the negotiated 'hold' (requests held at once).",
      details: 'Upper bound for the negotiated `hold` (0 .. 100).',
    })),
    inactivityS: intIn(1, 86_400).default(60).meta(meta({
      env: 'SHARED_BOSH_INACTIVITY_S', kind: 'int', value: 'SECONDS', section: 'bosh',
      description: "Advertised 'inactivity': a session with no request for this long ends.",
      details: 'Advertised `inactivity`, in seconds. A session with no request pending for this long ends.',
    })),
    pollingS: intIn(0, 3600).default(2).meta(meta({
      env: 'SHARED_BOSH_POLLING_S', kind: 'int', value: 'SECONDS', section: 'bosh',
      description: "Advertised 'polling': shortest interval between empty polls.",
      details: 'Advertised `polling`: the shortest interval between empty polls, in seconds.',
    })),
    pollingViolations: intIn(0, 1_000_000).default(10).meta(meta({
      env: 'SHARED_BOSH_POLLING_VIOLATIONS', kind: 'int', value: 'N', section: 'bosh',
      description: 'Flood protection: empty requests breaking the polling rules a session may send within bosh.pollingWindowS; one more ends it with policy-violation. 0: the first one does.',
      details: "Flood protection (docs/design.md D24): how many empty requests that break the overactivity or polling rule (XEP-0124 §11, §12: two empty requests less than `polling` apart) a session may send within `bosh.pollingWindowS`; one more ends it with `policy-violation`. Up to that, the CM answers the oldest held request and holds the new one (B-50), as for any request. `0` ends the session at the first violation (the rules read literally, which ends real clients' sessions after a page reload).",
    })),
    pollingWindowS: intIn(1, 86_400).default(60).meta(meta({
      env: 'SHARED_BOSH_POLLING_WINDOW_S', kind: 'int', value: 'SECONDS', section: 'bosh',
      description: 'The window in which bosh.pollingViolations are counted.',
      details: 'The window, in seconds, in which `bosh.pollingViolations` are counted (1 .. 86400).',
    })),
    maxPauseS: intIn(0, 86_400).default(120).meta(meta({
      env: 'SHARED_BOSH_MAX_PAUSE_S', kind: 'int', value: 'SECONDS', section: 'bosh',
      description: "Advertised 'maxpause': longest pause a client may request.",
      details: 'Advertised `maxpause`, in seconds.',
    })),
    maxSessions: intIn(1).default(10_000).meta(meta({
      env: 'SHARED_BOSH_MAX_SESSIONS', kind: 'int', value: 'N', section: 'bosh',
      description: 'Most concurrent BOSH sessions; more get policy-violation.',
      details: 'Most concurrent sessions. Creation requests beyond that get `policy-violation`.',
    })),
    maxQueueBytes: intIn(1024).default(1_048_576).meta(meta({
      env: 'SHARED_BOSH_MAX_QUEUE_BYTES', kind: 'int', value: 'BYTES', section: 'bosh',
      description: 'Most bytes of stanzas queued for a session that has no request to answer.',
      details: 'Most bytes of stanzas queued for a session that has no request to answer (D15).',
    })),
    creationsPerMinute: intIn(0).default(120).meta(meta({
      env: 'SHARED_BOSH_CREATIONS_PER_MINUTE', kind: 'int', value: 'N', section: 'bosh',
      description: 'Session creations allowed per client address per minute; 0 = unlimited.',
      details: 'Session creations allowed per client address per minute (D3). `0` means unlimited.',
    })),
    creationBurst: intIn(0).default(30).meta(meta({
      env: 'SHARED_BOSH_CREATION_BURST', kind: 'int', value: 'N', section: 'bosh',
      description: 'Creations an address may make in a burst before the per-minute rate applies.',
    })),
    maxDepth: intIn(8, 10_000).default(64).meta(meta({
      env: 'SHARED_BOSH_MAX_DEPTH', kind: 'int', value: 'N', section: 'bosh',
      description: 'Deepest nesting of a stanza in a request body (the stanza is level 1); deeper ones get bad-request.',
      details: 'Deepest nesting of a stanza in a request body (8 .. 10000): the stanza itself is level 1, its children level 2. A deeper one ends the session with `bad-request`. See [Hostile input and silent servers](#hostile-input-and-silent-servers).',
    })),
  }).prefault({}),
  shared: group({
    maxMembers: intIn(1, 10_000).default(16).meta(meta({
      env: 'SHARED_BOSH_SHARED_MAX_MEMBERS', kind: 'int', value: 'N', section: 'shared',
      description: 'Most sessions sharing one upstream connection (Shared BOSH).',
      details: 'Most sessions attached to one upstream connection (D8).',
    })),
    attachOrigins: list().nullable().default(null).meta(meta({
      env: 'SHARED_BOSH_SHARED_ATTACH_ORIGINS', kind: 'list', value: 'ORIGIN', section: 'shared', defaultText: 'null (= cors.origins)',
      description: 'Origins allowed to attach to a shared session; unset (null): whatever cors.origins allows.',
      details: 'Origins allowed to attach to a shared session (D5). `null` means whatever `cors.origins` allows.',
    })),
    replayEvents: intIn(0).default(1000).meta(meta({
      env: 'SHARED_BOSH_SHARED_REPLAY_EVENTS', kind: 'int', value: 'N', section: 'shared',
      description: "Events kept per shared connection for 'shared:since' replay.",
      details: 'Events kept per link for `shared:since` replay (D14b).',
    })),
    replayS: intIn(0).default(120).meta(meta({
      env: 'SHARED_BOSH_SHARED_REPLAY_S', kind: 'int', value: 'SECONDS', section: 'shared',
      description: 'Oldest event kept for replay.',
      details: 'Age in seconds of the oldest event kept for replay.',
    })),
  }).prefault({}),
  upstream: group({
    connectTimeoutMs: intIn(100, 600_000).default(15_000).meta(meta({
      env: 'SHARED_BOSH_CONNECT_TIMEOUT_MS', kind: 'int', value: 'MS', section: 'upstream',
      description: 'Give up connecting to an XMPP server (TCP, STARTTLS, first features) after this long.',
      details: 'Time allowed to connect to a server (TCP, STARTTLS and the first features) before giving up (100 .. 600000).',
    })),
    maxStanzaBytes: intIn(1024, 1 << 30).default(1_048_576).meta(meta({
      env: 'SHARED_BOSH_MAX_STANZA_BYTES', kind: 'int', value: 'BYTES', section: 'upstream',
      description: 'Largest element accepted from an XMPP server.',
      details: 'Largest top-level element accepted from a server.',
    })),
    maxDepth: intIn(8, 10_000).default(64).meta(meta({
      env: 'SHARED_BOSH_UPSTREAM_MAX_DEPTH', kind: 'int', value: 'N', section: 'upstream',
      description: 'Deepest nesting of a stanza from an XMPP server; deeper ones are dropped, logged and counted (IQ requests and messages get an error reply).',
      details: 'Deepest nesting of a stanza from a server (8 .. 10000), counted like `bosh.maxDepth`. A deeper stanza is dropped, logged and counted; the session goes on (see [Hostile input and silent servers](#hostile-input-and-silent-servers)).',
    })),
    pingIntervalS: intIn(0, 86_400).default(60).meta(meta({
      env: 'SHARED_BOSH_UPSTREAM_PING_INTERVAL_S', kind: 'int', value: 'SECONDS', section: 'upstream',
      description: 'Ping an XMPP server (XEP-0199) after this long without data on a bound stream; 0 = never.',
      details: 'Once a resource is bound, a stream on which nothing arrived for this many seconds gets an XEP-0199 ping to the server (0 .. 86400). `0` turns pings off.',
    })),
    pingTimeoutS: intIn(1, 3600).default(30).meta(meta({
      env: 'SHARED_BOSH_UPSTREAM_PING_TIMEOUT_S', kind: 'int', value: 'SECONDS', section: 'upstream',
      description: 'A ping, or a login step written to the server, unanswered for this long ends its sessions with remote-connection-failed.',
      details: 'Seconds a ping, or a login step the CM wrote before binding, may go without any data back (1 .. 3600). Then the stream counts as lost and its sessions end with `remote-connection-failed`.',
    })),
    checkIntervalS: intIn(0, 86_400).default(60).meta(meta({
      env: 'SHARED_BOSH_CHECK_INTERVAL_S', kind: 'int', value: 'SECONDS', section: 'upstream',
      description: "How often every served domain's XMPP server is checked (resolve, connect, STARTTLS, certificate) for the readiness probe, after the check at start; 0: only at start.",
      details: "The `shared-bosh` command checks every served domain's server (resolve, connect, STARTTLS, certificate, first features) at start and then this often, in seconds, for `http.readyPath` (0 .. 86400; `0`: only at start). `shared-bosh check` runs the same check once.",
    })),
  }).prefault({}),
  metrics: group({
    allow: list().default(['127.0.0.1', '::1']).meta(meta({
      env: 'SHARED_BOSH_METRICS_ALLOW', kind: 'list', value: 'ADDR', section: 'metrics',
      description: 'Client addresses (exact, or CIDR like 10.0.0.0/8) allowed to read the metrics page; others get 403. With http.trustProxy the forwarded address counts.',
      details: 'Client addresses allowed to read the metrics page: exact IPv4/IPv6 addresses or CIDR blocks (`10.0.0.0/8`, `fd00::/8`). Others get **403**. With `http.trustProxy` the forwarded address counts, so a reverse proxy on loopback does not open the page to everyone. `0.0.0.0/0` and `::/0` allow every address.',
    })),
    port: intIn(0, 65535).nullable().default(null).meta(meta({
      env: 'SHARED_BOSH_METRICS_PORT', kind: 'int', value: 'PORT', section: 'metrics', defaultText: 'null',
      description: 'Serve the metrics page on its own plain-HTTP listener at metrics.host:metrics.port (0: any free port) instead of on the BOSH listener.',
      details: 'Serve the metrics page on its own plain-HTTP listener at `metrics.host:metrics.port` (`0` picks a free port, and the startup lines show which). The BOSH listener then no longer serves it. `null`: the page is served on the BOSH listener, at `http.metricsPath`.',
    })),
    host: text().default('127.0.0.1').meta(meta({
      env: 'SHARED_BOSH_METRICS_HOST', kind: 'string', value: 'ADDR', section: 'metrics',
      description: 'Address of the separate metrics listener (with metrics.port).',
    })),
  }).prefault({}),
  logLevel: oneOf(LOG_LEVELS).default('info').meta(meta({
    env: 'SHARED_BOSH_LOG_LEVEL', flag: 'log-level', kind: 'enum', value: 'LEVEL', section: 'upstream',
    description: 'fatal, error, warn, info, debug, trace or silent. Logs are JSON lines on stdout.',
    details: 'One of `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs are JSON lines (pino) on stdout, written asynchronously and buffered: a write when 4 KiB have gathered, and at least once a second, so a line reaches stdout within a second; what is left is flushed at exit, also after a crash (only a SIGKILL loses the last second). At `info` a session logs when it is created and when it ends (with the reason), plus anything unusual; the upstream stream\'s steps (targets, TCP connect, stream open/close, resource binding) are `debug`. Shared keys, `key`/`newkey` and SASL payloads are never logged.',
  })),
});

/** Every option of the CM (the output of `configSchema`). */
export type CmConfig = z.output<typeof configSchema>;
/** How to reach the XMPP server of one served domain (docs/design.md D22). */
export type DomainConfig = z.output<typeof domainSchema>;
/** Certificate and key the BOSH endpoint serves HTTPS with (`http.tls`). */
export type HttpTlsConfig = z.output<typeof httpTlsSchema>;

/** The defaults: what the schema makes of an empty configuration. */
export const DEFAULT_CONFIG: CmConfig = configSchema.parse({});
/** The settings of a served domain that its entry leaves out. */
export const DOMAIN_DEFAULTS: DomainConfig = domainSchema.parse({});

/** Strips default, prefault, optional and nullable wrappers. */
export function innerSchema(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
    s = s.unwrap() as z.ZodType;
  }
  return s;
}

/** Every declared option in schema order: `domains` and its per-domain keys (`domains.*.x`) included. */
export function options(): OptionSpec[] {
  const out: OptionSpec[] = [];
  const walk = (schema: z.ZodType, path: string[], field?: string): void => {
    const m = schema.meta() as OptionMeta | undefined;
    const inner = innerSchema(schema);
    if (m?.section !== undefined) out.push({ ...m, key: path.join('.'), schema: inner, ...(field !== undefined ? { field } : {}) });
    if (inner instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) walk(child, [...path, name], path[0] === 'domains' ? name : undefined);
    } else if (inner instanceof z.ZodRecord) {
      walk(inner.valueType as z.ZodType, [...path, '*']);
    }
  };
  walk(configSchema, []);
  return out;
}

/**
 * An allowlist of client addresses: exact IPv4/IPv6 addresses and CIDR blocks (`10.0.0.0/8`,
 * `fd00::/8`). Throws an Error naming the first entry that is neither.
 */
export function addressList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(bits <= max))) {
      throw new Error(`${JSON.stringify(entry)} is not an IP address or CIDR block`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return list;
}
