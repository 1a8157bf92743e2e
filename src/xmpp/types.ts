import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { Element } from '../xml/element.js';

/** How the CM secures the upstream stream (docs/design.md D22, docs/requirements.md B-140). */
export type TlsPolicy = 'required' | 'optional' | 'off';

/** Where and how to reach the XMPP server for one domain. */
export interface UpstreamOptions {
  /** The XMPP domain: `to` of the stream header, SNI and the name the certificate must match. */
  domain: string;
  /** Fixed host; when absent, `_xmpp-client._tcp.<domain>` SRV then `<domain>` itself. */
  host?: string;
  /** Port for a fixed host or for the SRV fallback. @default 5222 */
  port?: number;
  /** @default 'required' */
  tls: TlsPolicy;
  /** Extra CA certificates (PEM) trusted for the upstream certificate. */
  ca?: string | Buffer;
  /** Skip certificate verification: for tests only. @default false */
  insecure?: boolean;
  /** `xml:lang` of the stream header (from the BOSH creation request). */
  lang?: string;
  /** `version` of the stream header: the client's `xmpp:version`. @default '1.0' */
  version?: string;
  /** `from` of the stream header, when the client gave one. */
  from?: string;
  /** Give up connecting (TCP + TLS + first features) after this long. @default 15000 */
  connectTimeoutMs?: number;
  /** Largest top-level element accepted from the server, in bytes. @default 1048576 */
  maxStanzaBytes?: number;
  /**
   * Deepest nesting of a top-level element from the server (the element is depth 1). A deeper
   * one is dropped, logged and counted; an IQ request or a message gets a policy-violation error
   * back to its sender. @default 64
   */
  maxDepth?: number;
  /**
   * Once the stream is bound (markBound()), ping the server (XEP-0199) after this long with
   * nothing received; 0 = never. @default 60000
   */
  pingIntervalMs?: number;
  /**
   * How long a ping, or anything the CM writes before binding (every login step has an answer),
   * may go without any data back before the stream counts as lost. @default 30000
   */
  pingTimeoutMs?: number;
  /** Where the stream counts what it drops and why it gives up (the CM's metrics). */
  counters?: UpstreamCounters;
  logger: Logger;
  clock: Clock;
  /** DNS SRV resolver, injectable for tests. @default node:dns/promises resolveSrv */
  resolveSrv?: (name: string) => Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
}

/** What an upstream stream counts; fixed reasons only, never an address or a payload. */
export interface UpstreamCounters {
  /** A stanza from the server was not delivered (too-deep: nested deeper than maxDepth). */
  dropped(reason: 'too-deep'): void;
  /** The CM ended the stream with a stream error of its own (RFC 6120 §4.9.3 condition). */
  streamErrorSent(condition: string): void;
}

/** The server's stream header, as the client needs it (`authid`, `from`, `xmpp:version`). */
export interface StreamInfo {
  id: string;
  from: string;
  version: string;
}

/** Why the upstream stream is gone. */
export type UpstreamEnd =
  | { kind: 'closed' }                             // we closed it (close() completed)
  | { kind: 'connect-failed'; error: Error }       // never opened: DNS, TCP, TLS, STARTTLS policy, timeout
  | { kind: 'stream-error'; error: Element }       // the server sent <stream:error/>
  | { kind: 'lost'; error?: Error }                // TCP closed, </stream:stream> from the server, bad XML, no answer to a ping
  | { kind: 'failed'; error: Error };              // the CM itself failed handling the stream (an unexpected exception)

/** What an upstream stream reports to its owner (the link). Direction: inbound. */
export interface UpstreamSink {
  /** A stream header arrived (first open, after STARTTLS, after every restart). */
  onStreamOpen(info: StreamInfo): void;
  /**
   * Complete top-level elements, one call per chunk read from the socket. Stream features are
   * passed with any `<starttls/>` removed (the CM negotiates TLS itself, D22). STARTTLS and
   * `<stream:error/>` are never passed here.
   */
  onElements(elements: Element[]): void;
  /** The stream ended; called exactly once. */
  onEnd(end: UpstreamEnd): void;
}

/** One XMPP client stream to the server, over TCP with STARTTLS. */
export interface Upstream {
  /** Writes serialized top-level elements (outbound). Ignored once the stream is closing. */
  send(xml: string): void;
  /** XEP-0206 §5: treat the stream as closed and open a new one on the same TCP connection. */
  restart(): void;
  /** Writes `</stream:stream>`, waits briefly for the server's, then closes TCP; onEnd({kind:'closed'}). */
  close(): void;
  /** A resource is bound on this stream: from now on a silent server is pinged (pingIntervalMs). */
  markBound(): void;
}
