import { escapeAttr } from '../xml/element.js';
import { NS_HTTPBIND, NS_SHARED, NS_STREAMS } from '../protocol/namespaces.js';
import { LEGACY_HTTP_STATUS, type BoshError } from './conditions.js';
import type { BoshReply } from './exchange.js';

export const DEFAULT_CONTENT_TYPE = 'text/xml; charset=utf-8';

/**
 * Renders one response `<body/>` (XEP-0124 §6, B-11..B-15): attributes, then the payloads,
 * which arrive already serialized and self-contained. `xmlns:stream` is declared whenever a
 * payload uses the prefix.
 */
export function renderBody(attrs: Record<string, string>, payloads: readonly string[] = []): string {
  let out = "<body xmlns='" + NS_HTTPBIND + "'";
  for (const name in attrs) out += ' ' + name + "='" + escapeAttr(attrs[name]!) + "'";
  if (payloads.length === 0) return out + '/>';
  if (payloads.some((p) => p.startsWith('<stream:'))) out += " xmlns:stream='" + NS_STREAMS + "'";
  return out + '>' + payloads.join('') + '</body>';
}

/** How a session's replies go out: its Content-Type (B-17, B-18) and whether its client is legacy (B-116). */
export interface ReplyForm {
  readonly legacy: boolean;
  readonly contentType: string;
}

/** The form of a reply to a request that belongs to no session. */
export const SESSIONLESS: ReplyForm = { legacy: false, contentType: DEFAULT_CONTENT_TYPE };

/**
 * The one terminal reply (§17.2); every refusal and ending goes through it. `<body
 * type='terminate'/>` with `error`'s condition (none: the confirmation of the client's own
 * terminate, B-80) and its `shared:error` (D2..D8), the stanzas still `queued` for the client,
 * then the error's own payloads (X-24: a `<stream:error/>`, a `<uri/>`). A legacy client gets
 * the HTTP status that replaces the three starred conditions (B-116).
 */
export function terminalReply(error: BoshError | undefined, form: ReplyForm, queued: readonly string[] = []): BoshReply {
  const attrs: Record<string, string> = { type: 'terminate' };
  let payloads = queued;
  let status = 200;
  if (error) {
    attrs.condition = error.condition;
    if (error.sharedError) {
      attrs['xmlns:shared'] = NS_SHARED;
      attrs['shared:error'] = error.sharedError;
    }
    if (error.children.length > 0) payloads = [...queued, ...error.children.map((c) => c.toString())];
    if (form.legacy) status = LEGACY_HTTP_STATUS[error.condition] ?? 200;
  }
  return { status, contentType: form.contentType, body: renderBody(attrs, payloads) };
}

/** §17.3 (B-132): a recoverable binding error. */
export const RECOVERABLE_ERROR_BODY = renderBody({ type: 'error' });
