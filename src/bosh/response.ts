import { escapeAttr } from '../xml/element.js';
import { NS_HTTPBIND } from '../xml/body-parser.js';
import type { TerminalCondition } from './conditions.js';

export const NS_STREAM = 'http://etherx.jabber.org/streams';
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
  if (payloads.some((p) => p.startsWith('<stream:'))) out += " xmlns:stream='" + NS_STREAM + "'";
  return out + '>' + payloads.join('') + '</body>';
}

/** `<body type='terminate' condition='...'/>` with optional payloads (§17.2, X-24). */
export function renderTerminate(condition: TerminalCondition | undefined, payloads: readonly string[] = [], extra: Record<string, string> = {}): string {
  const attrs: Record<string, string> = { type: 'terminate' };
  if (condition) attrs.condition = condition;
  return renderBody({ ...attrs, ...extra }, payloads);
}

/** §17.3 (B-132): a recoverable binding error. */
export const RECOVERABLE_ERROR_BODY = renderBody({ type: 'error' });
