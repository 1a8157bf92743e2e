import type { Element } from '../xml/element.js';

import type { SharedError, TerminalCondition as BindingCondition } from '../protocol/conditions.js';

export type { SharedError };

/** XEP-0124 §17.2 terminal binding conditions, plus two the client reports itself. */
export type TerminalCondition =
  | BindingCondition
  /** Client side: HTTP kept failing (network error, non-200) after every retry. */
  | 'connection-failed'
  /** Client side: the session was closed locally (`disconnect()`, `destroy()`). */
  | 'client-closed';

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
