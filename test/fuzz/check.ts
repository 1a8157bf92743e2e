/**
 * The fuzzer's reading of what the CM wrote: one response body, parsed by saxes with namespace
 * processing on, which throws on anything not well-formed or not namespace-well-formed (an
 * unbound prefix, two attributes with the same expanded name, a misuse of `xml`/`xmlns`).
 * Iterative (saxes keeps no recursion), so a deep body cannot overflow the checker itself.
 */
import { SaxesParser } from 'saxes';
import { NS_CLIENT, NS_HTTPBIND, NS_SHARED, NS_STREAMS, NS_XBOSH } from '../../src/protocol/namespaces.js';

/** One top-level element of a `<body/>`, as far as the invariants need it. */
export interface BodyChild {
  /** Local name and namespace URI. */
  name: string;
  uri: string;
  id: string | undefined;
  /** Local names of its attributes in the Shared BOSH namespace (`echo`, `replay`), whatever their prefix. */
  sharedMarks: string[];
  /** Its source text was cut at 200 characters. */
  excerpt: string;
}

export interface CheckedBody {
  /** Attributes of `<body/>` by expanded name: `{uri}local`, or `local` for unqualified ones. */
  attrs: Record<string, string>;
  children: BodyChild[];
}

export class MalformedBody extends Error {
  override name = 'MalformedBody';
}

/** Parses a body the CM wrote; throws MalformedBody with saxes' reason when it is not acceptable. */
export function checkBody(text: string): CheckedBody {
  const parser = new SaxesParser({ xmlns: true, position: true });
  let depth = 0;
  let rootSeen = false;
  const out: CheckedBody = { attrs: {}, children: [] };
  let failure: string | undefined;
  parser.on('error', (err) => {
    failure ??= err.message;
  });
  parser.on('doctype', () => {
    failure ??= 'DOCTYPE in a response';
  });
  parser.on('opentag', (tag) => {
    depth += 1;
    if (depth === 1) {
      if (rootSeen) failure ??= 'two root elements';
      rootSeen = true;
      if (tag.local !== 'body' || tag.uri !== NS_HTTPBIND) failure ??= `root is {${tag.uri}}${tag.local}, not <body xmlns='${NS_HTTPBIND}'/>`;
      for (const a of Object.values(tag.attributes)) out.attrs[a.uri ? `{${a.uri}}${a.local}` : a.local] = a.value;
      return;
    }
    if (depth !== 2) return;
    const marks = Object.values(tag.attributes).filter((a) => a.uri === NS_SHARED).map((a) => a.local);
    const idAttr = Object.values(tag.attributes).find((a) => a.uri === '' && a.local === 'id');
    out.children.push({ name: tag.local, uri: tag.uri, id: idAttr?.value, sharedMarks: marks, excerpt: '' });
  });
  parser.on('closetag', () => {
    depth -= 1;
  });
  try {
    parser.write(text).close();
  } catch (err) {
    failure ??= (err as Error).message;
  }
  if (failure === undefined && !rootSeen) failure = 'empty document';
  if (failure !== undefined) throw new MalformedBody(`${failure} in: ${excerpt(text)}`);
  return out;
}

/** The start and, for long texts, the end of `text`. */
export function excerpt(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max / 2)} ...[${text.length - max} chars]... ${text.slice(-max / 2)}`;
}

/**
 * Whether a document is well-formed, and if so whether it is also namespace-well-formed. The
 * fuzzer sends XML that is well-formed but not namespace-well-formed only when asked to
 * (`nsIllFormed`): a real XMPP server never sends it (it re-serializes what it routes), and what
 * the CM should do with such client input is a separate question (docs/security.md).
 */
export function classify(doc: string): 'ok' | 'not-well-formed' | 'ns-ill-formed' {
  const firstError = (xmlns: boolean): string | undefined => {
    const parser = xmlns ? new SaxesParser({ xmlns: true }) : new SaxesParser();
    let first: string | undefined;
    parser.on('error', (err) => {
      first ??= err.message;
    });
    try {
      parser.write(doc).close();
    } catch (err) {
      first ??= (err as Error).message;
    }
    return first;
  };
  const plain = firstError(false);
  const namespaced = firstError(true);
  if (namespaced === undefined) return 'ok';
  // A namespace error before the first well-formedness error: the part a streaming parser
  // accepts before it fails is itself not namespace-well-formed.
  return namespaced === plain ? 'not-well-formed' : 'ns-ill-formed';
}

/** An upstream element in its stream's context (default namespace jabber:client, prefix `stream`). */
export function inStream(xml: string): string {
  return `<stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}'>${xml}</stream:stream>`;
}

/** A payload in the `<body/>` a member sends it in. */
export function inBody(xml: string): string {
  return `<body xmlns:xmpp='${NS_XBOSH}' xmlns='${NS_HTTPBIND}'>${xml}</body>`;
}
