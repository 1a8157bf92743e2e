import type { Element } from '../xml/element.js';

/** XEP-0124 §17.2: the terminal binding conditions (checklist B-119..B-131). */
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
  | 'undefined-condition';

/**
 * XEP-0124 §17.1, footnote of §17.2 (B-116): the HTTP status that replaces a condition for a
 * legacy client (one whose session creation request carried no `ver`).
 */
export const LEGACY_HTTP_STATUS: Partial<Record<TerminalCondition, number>> = {
  'bad-request': 400,
  'policy-violation': 403,
  'item-not-found': 404,
};

/** Reasons the CM refuses a shared-session request (DESIGN D2, D5, D6, D8); `shared:error`. */
export type SharedError = 'weak-key' | 'key-in-use' | 'origin-mismatch' | 'not-ready' | 'too-many-members';

/**
 * A terminal error: the session (or, before one exists, the request) ends with `condition`.
 * `children` are extra payloads of the terminate body (the `<stream:error/>` of
 * `remote-stream-error`, the `<uri/>` of `see-other-uri`); `text` is for the log only.
 */
export class BoshError extends Error {
  constructor(
    public readonly condition: TerminalCondition,
    message: string = condition,
    public readonly children: Element[] = [],
    public readonly sharedError?: SharedError,
  ) {
    super(message);
    this.name = 'BoshError';
  }
}
