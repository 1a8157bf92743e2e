import { SaxesParser } from 'saxes';
import { DEFAULT_MAX_DEPTH, Element } from './element.js';

import { NS_HTTPBIND } from '../protocol/namespaces.js';

/** A BOSH `<body/>` document: its attributes, the prefixes it declares, and its payloads. */
export interface ParsedBody {
  /** Attributes of `<body/>` as written (prefixed names kept literally). */
  attrs: Record<string, string>;
  /** Namespace prefixes declared on `<body/>`: prefix -> URI (default namespace under ''). */
  prefixes: Record<string, string>;
  /** The payloads: complete child elements, each self-contained (see inheritPrefixes). */
  children: Element[];
}

export class BodyParseError extends Error {
  override name = 'BodyParseError';
}

/**
 * Parses one HTTP request body as a BOSH wrapper (XEP-0124 §6, docs/requirements.md B-11..B-15):
 * exactly one `<body/>` in the httpbind namespace, no DTD (so no entity declarations),
 * no character data directly inside it, no payload nested deeper than `maxDepth` levels.
 */
export function parseBody(xml: string, maxDepth = DEFAULT_MAX_DEPTH): ParsedBody {
  const p = (shared ??= new BodyParser());
  // A parser left in an unknown state by an exception is never reused.
  shared = undefined;
  const root = p.parse(xml, maxDepth);
  shared = p;

  const prefixes = declaredPrefixes(root.attrs);
  if (root.localName !== 'body' || prefixes[root.prefix] !== NS_HTTPBIND) {
    throw new BodyParseError(`root element is not <body xmlns='${NS_HTTPBIND}'/>`);
  }
  const children = root.elements();
  if (Object.keys(prefixes).length > 1) {
    for (const child of children) inheritPrefixes(child, prefixes);
  }
  return { attrs: root.attrs, prefixes, children };
}

/** One saxes parser serves every body: parsing is synchronous, and a saxes parser resets itself on close(). */
let shared: BodyParser | undefined;

class BodyParser {
  private readonly parser = new SaxesParser({ position: false });
  private stack: Element[] = [];
  private root: Element | undefined;
  private failure: string | undefined;
  /** Deepest payload element allowed (`<body/>` is depth 0, a stanza depth 1). */
  private maxDepth = DEFAULT_MAX_DEPTH;

  constructor() {
    const parser = this.parser;
    parser.on('error', (err) => this.fail(err.message));
    parser.on('doctype', () => this.fail('DTD not allowed'));
    parser.on('opentag', (tag) => {
      // Resource exhaustion: stop at once rather than build a deep tree (the parser is dropped).
      if (this.stack.length > this.maxDepth) throw new BodyParseError(`payload nested deeper than ${this.maxDepth} levels`);
      const el = new Element(tag.name, tag.attributes as Record<string, string>);
      const parent = this.stack[this.stack.length - 1];
      if (parent) parent.children.push(el);
      else if (this.root) this.fail('more than one root element');
      else this.root = el;
      this.stack.push(el);
    });
    parser.on('closetag', () => void this.stack.pop());
    const onText = (text: string): void => {
      const parent = this.stack[this.stack.length - 1];
      if (!parent) return; // whitespace around the root; saxes rejects anything else
      if (parent === this.root) {
        if (/\S/.test(text)) this.fail('character data directly inside <body/>');
        return;
      }
      parent.children.push(text);
    };
    parser.on('text', onText);
    parser.on('cdata', onText);
  }

  /** The document's root element; throws BodyParseError for anything not well-formed. */
  parse(xml: string, maxDepth: number): Element {
    this.maxDepth = maxDepth;
    try {
      this.parser.write(xml).close();
    } catch (err) {
      this.fail((err as Error).message);
    }
    const { root, failure } = this;
    this.stack = [];
    this.root = undefined;
    this.failure = undefined;
    if (failure !== undefined) throw new BodyParseError(failure);
    if (!root) throw new BodyParseError('empty request');
    return root;
  }

  private fail(message: string): void {
    this.failure ??= message;
  }
}

/** prefix -> URI for the `xmlns` / `xmlns:p` attributes of one element. */
export function declaredPrefixes(attrs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in attrs) {
    if (name === 'xmlns') out[''] = attrs[name]!;
    else if (name.startsWith('xmlns:')) out[name.slice(6)] = attrs[name]!;
  }
  return out;
}

/**
 * A payload is forwarded on its own, out of its `<body/>`: copy onto it the declarations of
 * any prefix it uses that only `<body/>` declared, so it stays well-formed in the XMPP stream.
 * The default namespace is never copied (X-04: unqualified stanzas are jabber:client upstream).
 */
function inheritPrefixes(el: Element, bodyPrefixes: Record<string, string>): void {
  const missing = new Set<string>();
  collectUndeclared(el, new Set(), missing);
  for (const prefix of missing) {
    const uri = bodyPrefixes[prefix];
    if (uri !== undefined) el.attrs['xmlns:' + prefix] = uri;
  }
}

/** Iterative (an explicit work list), so depth costs heap, never stack. */
function collectUndeclared(root: Element, rootScope: Set<string>, missing: Set<string>): void {
  const pending: Array<[Element, Set<string>]> = [[root, rootScope]];
  while (pending.length > 0) {
    const [el, inScope] = pending.pop()!;
    let scope = inScope;
    for (const name in el.attrs) {
      if (name.startsWith('xmlns:')) {
        if (scope === inScope) scope = new Set(inScope);
        scope.add(name.slice(6));
      }
    }
    const use = (prefix: string) => {
      if (prefix !== '' && prefix !== 'xml' && prefix !== 'xmlns' && !scope.has(prefix)) missing.add(prefix);
    };
    use(el.prefix);
    for (const name in el.attrs) {
      const colon = name.indexOf(':');
      if (colon > 0) use(name.slice(0, colon));
    }
    for (const child of el.children) if (typeof child !== 'string') pending.push([child, scope]);
  }
}
