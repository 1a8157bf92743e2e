import type { Element } from '../xml/element.js';

/** XEP-0124 §17.2 terminal binding conditions, plus two the client reports itself. */
export type TerminalCondition =
  | 'bad-request'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'item-not-found'
  | 'other-request'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'remote-stream-error'
  | 'see-other-uri'
  | 'system-shutdown'
  | 'undefined-condition'
  /** Client side: HTTP kept failing (network error, non-200) after every retry. */
  | 'connection-failed'
  /** Client side: the session was closed locally (`disconnect()`, `destroy()`). */
  | 'client-closed';

/** `shared:error` values of a refused shared-session request (DESIGN D2, D5, D6, D8). */
export type SharedError = 'weak-key' | 'key-in-use' | 'origin-mismatch' | 'not-ready' | 'too-many-members';

/**
 * The BOSH session (or, before one exists, the creation request) ended. `condition` is the
 * terminal binding condition of XEP-0124 §17.2; `sharedError` is `shared:error` of a refusal
 * (docs/shared-bosh.md §4); `body` is the terminal `<body/>` when the CM sent one.
 */
export class BoshError extends Error {
  override name = 'BoshError';
  constructor(
    readonly condition: TerminalCondition,
    message: string = condition,
    readonly sharedError?: SharedError,
    readonly body?: Element,
  ) {
    super(message);
  }
}

/** SASL failed: the server's `<failure/>` condition, or a client-side check (bad server signature). */
export class SaslError extends Error {
  override name = 'SaslError';
  constructor(
    readonly condition: string,
    message: string = condition,
  ) {
    super(message);
  }
}

/** An IQ came back with `type='error'` (RFC 6120 §8.3). */
export class StanzaError extends Error {
  override name = 'StanzaError';
  constructor(
    readonly condition: string,
    readonly type: string,
    readonly element: Element,
  ) {
    super(`${type}/${condition}`);
  }
}

/** Something the client waited for did not come in time. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}
