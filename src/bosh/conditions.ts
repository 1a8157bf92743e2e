import type { Element } from '../xml/element.js';

import type { SharedError, TerminalCondition } from '../protocol/conditions.js';

export type { SharedError, TerminalCondition };

/**
 * XEP-0124 §17.1, footnote of §17.2 (B-116): the HTTP status that replaces a condition for a
 * legacy client (one whose session creation request carried no `ver`).
 */
export const LEGACY_HTTP_STATUS: Partial<Record<TerminalCondition, number>> = {
  'bad-request': 400,
  'policy-violation': 403,
  'item-not-found': 404,
};

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
