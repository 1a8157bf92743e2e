/**
 * Protocol names shared by the CM and the client library: a leaf module (it imports nothing), so
 * both sides may use it without the client depending on the server's code.
 */

/** XEP-0124 §17.2: the terminal binding conditions (requirements B-119..B-131). */
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

/** Why the CM refused a shared-session request (docs/design.md D2, D5, D6, D8): `shared:error`. */
export type SharedError = 'weak-key' | 'key-in-use' | 'origin-mismatch' | 'not-ready' | 'too-many-members';
