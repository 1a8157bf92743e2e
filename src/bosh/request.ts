import { BodyParseError, parseBody } from '../xml/body-parser.js';
import type { Element } from '../xml/element.js';
import { NS_SHARED, NS_XBOSH } from '../protocol/namespaces.js';
import { BoshError } from './conditions.js';


/** XEP-0124 §14.1 (B-82): rids are positive integers up to 2^53 - 1. */
export type Rid = number;

/** A BOSH protocol version "major.minor" (B-19: the minor part compares as an integer). */
export interface Version {
  major: number;
  minor: number;
}

/** One client request, its attributes typed as the protocol defines them. */
export interface BoshRequest {
  rid: Rid;
  sid?: string;
  /** `type='terminate'` (§13); other values are ignored. */
  terminate: boolean;
  /** Session creation attributes (§7.1). */
  to?: string;
  route?: string;
  from?: string;
  lang?: string;
  ver?: Version;
  wait?: number;
  hold?: number;
  content?: string;
  /** §9: `ack` (on creation: '1' asks for acknowledgements). */
  ack?: Rid;
  /** §15 key sequencing. */
  key?: string;
  newkey?: string;
  /** §10: `pause`, seconds. */
  pause?: number;
  /** XEP-0206: `xmpp:version`, `xmpp:restart`. */
  xmppVersion?: string;
  restart: boolean;
  /** Shared BOSH: `shared:key`, `shared:since`, `shared:close`. */
  sharedKey?: string;
  sharedSince?: string;
  sharedClose?: string;
  /** The payloads, in order. */
  payload: Element[];
}

const MAX_RID = Number.MAX_SAFE_INTEGER;

/**
 * Parses and types one request body; a malformed one, or one with a payload nested deeper than
 * `maxDepth` (config `bosh.maxDepth`), is a `bad-request` (B-119).
 */
export function parseRequest(text: string, maxDepth?: number): BoshRequest {
  let parsed;
  try {
    parsed = parseBody(text, maxDepth);
  } catch (err) {
    if (err instanceof BodyParseError) throw new BoshError('bad-request', 'malformed body: ' + err.message);
    throw err;
  }
  const { attrs, prefixes } = parsed;
  // Qualified attributes are found by namespace URI, never by prefix (S-01).
  const qualified = (uri: string, local: string): string | undefined => {
    for (const prefix in prefixes) {
      if (prefix !== '' && prefixes[prefix] === uri) {
        const value = attrs[prefix + ':' + local];
        if (value !== undefined) return value;
      }
    }
    return undefined;
  };

  const ridText = attrs.rid;
  if (ridText === undefined) throw new BoshError('bad-request', 'missing rid');
  const rid = parseInteger(ridText, 'rid', MAX_RID);
  // B-82: a rid is a positive integer.
  if (rid === 0) throw new BoshError('bad-request', 'rid must be positive');

  return {
    rid,
    sid: attrs.sid,
    terminate: attrs.type === 'terminate',
    to: attrs.to,
    route: attrs.route,
    from: attrs.from,
    lang: attrs['xml:lang'],
    ver: attrs.ver === undefined ? undefined : parseVersion(attrs.ver),
    wait: optionalInteger(attrs.wait, 'wait'),
    hold: optionalInteger(attrs.hold, 'hold'),
    content: attrs.content,
    ack: optionalInteger(attrs.ack, 'ack', MAX_RID),
    key: attrs.key,
    newkey: attrs.newkey,
    pause: optionalInteger(attrs.pause, 'pause'),
    xmppVersion: qualified(NS_XBOSH, 'version'),
    restart: parseBoolean(qualified(NS_XBOSH, 'restart')),
    sharedKey: qualified(NS_SHARED, 'key'),
    sharedSince: qualified(NS_SHARED, 'since'),
    sharedClose: qualified(NS_SHARED, 'close'),
    payload: parsed.children,
  };
}

function parseInteger(text: string, name: string, max = 2 ** 31 - 1): number {
  if (!/^[0-9]{1,16}$/.test(text)) throw new BoshError('bad-request', `${name} is not a non-negative integer`);
  const value = Number(text);
  if (value > max) throw new BoshError('bad-request', `${name} is out of range`);
  return value;
}

function optionalInteger(text: string | undefined, name: string, max?: number): number | undefined {
  return text === undefined ? undefined : parseInteger(text, name, max);
}

/** B-19: "major.minor", both integers. */
export function parseVersion(text: string): Version {
  const match = /^([0-9]{1,4})\.([0-9]{1,4})$/.exec(text);
  if (!match) throw new BoshError('bad-request', 'ver is not major.minor');
  return { major: Number(match[1]), minor: Number(match[2]) };
}

export function compareVersions(a: Version, b: Version): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor;
}

export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}`;
}

/** booleans follow xs:boolean ('true'/'1', 'false'/'0'). */
export function parseBoolean(text: string | undefined): boolean {
  if (text === undefined) return false;
  const value = text.trim();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new BoshError('bad-request', 'not an xs:boolean');
}
