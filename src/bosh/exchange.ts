/**
 * One HTTP request as the BOSH layer sees it: `http/` builds it, `bosh/` answers it.
 * Keeps `bosh/` free of node:http (data flows http -> bosh, answers come back through reply()).
 */
export interface BoshExchange {
  /** The request body as text, after any Content-Encoding was decoded. */
  body: string;
  /** True when the body exceeded `http.maxBodyBytes`; `body` then holds only its first bytes. */
  oversized: boolean;
  /**
   * Why the body is malformed before any XML is read (not valid UTF-8): it is refused with
   * bad-request (B-119); `body` then holds it decoded with U+FFFD, enough to find the `sid`.
   */
  malformed?: string | undefined;
  /** The peer's IP address (for per-address limits and logs). */
  remoteAddress: string;
  /** The `Origin` request header, if any (already allowed by CORS). */
  origin: string | undefined;
  /** Whether the request came over TLS (XEP-0124 §19.1, B-136). */
  secure: boolean;
  /**
   * Whoever holds the request (a session) sets itself here; it is told once if the client goes
   * away before the reply (HTTP/1.1 connection closed, HTTP/2 stream reset), and from then on
   * nothing is written to the request (D24).
   */
  watcher: ExchangeWatcher | undefined;
  /** The client went away before the reply (D24); a reply() now writes nothing. */
  readonly gone: boolean;
  /** Answers the request. Called exactly once, or drop() instead. */
  reply(reply: BoshReply): void;
  /** Closes the connection without an answer (XEP-0124 §19.1, B-138). */
  drop(): void;
}

/** Told when a held request's client went away (D24); an object, not a closure per request. */
export interface ExchangeWatcher {
  exchangeGone(exchange: BoshExchange): void;
}

/** What the BOSH layer answers: the HTTP layer adds CORS, compression and Content-Length. */
export interface BoshReply {
  /** 200, or a legacy status (400/403/404) for clients that sent no `ver` (B-116). */
  status: number;
  /** B-17/B-18: the session's `content`, else 'text/xml; charset=utf-8'. */
  contentType: string;
  body: string;
}

/** The one entry point `http/` calls. */
export interface BoshRequestHandler {
  handle(exchange: BoshExchange): void;
}
