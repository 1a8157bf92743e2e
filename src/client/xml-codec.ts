import { Element, serialize } from '../xml/element.js';
import { NS } from './namespaces.js';

/**
 * Turns BOSH response text into an element tree and elements into request text. The core of
 * the client never touches a DOM: Node uses saxes (`SaxesXmlCodec`), browsers their own
 * `DOMParser` (`DomXmlCodec`); `defaultXmlCodec()` (default-codec.ts) picks one at runtime.
 *
 * `parseBody` returns the `<body/>` element; every child of it is made self-contained: it
 * declares the prefixes it uses that `<body/>` declared (`stream`, `shared`, ...), and an
 * unprefixed child without `xmlns` gets `xmlns='jabber:client'` (XEP-0206 §3: that is its
 * namespace). So a stanza can be handed to the application on its own.
 */
export interface XmlCodec {
  parseBody(text: string): Element;
  serialize(el: Element): string;
}

export class XmlParseError extends Error {
  override name = 'XmlParseError';
}

/** Checks that the root is `<body xmlns='http://jabber.org/protocol/httpbind'/>` and scopes its children. */
export function finishBody(root: Element | undefined): Element {
  if (!root) throw new XmlParseError('empty response');
  const ns = root.attrs[root.prefix === '' ? 'xmlns' : 'xmlns:' + root.prefix];
  if (root.localName !== 'body' || ns !== NS.HTTPBIND) {
    throw new XmlParseError(`response root is not <body xmlns='${NS.HTTPBIND}'/>`);
  }
  for (const c of root.elements()) scopeChild(c, root);
  return root;
}

function usedPrefixes(el: Element, out: Set<string>): void {
  out.add(el.prefix);
  for (const name in el.attrs) {
    const colon = name.indexOf(':');
    if (colon > 0 && !name.startsWith('xmlns')) out.add(name.slice(0, colon));
  }
  for (const c of el.elements()) usedPrefixes(c, out);
}

function scopeChild(el: Element, body: Element): void {
  const used = new Set<string>();
  usedPrefixes(el, used);
  for (const prefix of used) {
    if (prefix === '' || prefix === 'xml') continue;
    const attr = 'xmlns:' + prefix;
    if (el.attrs[attr] === undefined && body.attrs[attr] !== undefined) el.attrs[attr] = body.attrs[attr]!;
  }
  if (el.prefix === '' && el.attrs.xmlns === undefined) el.attrs = { xmlns: NS.CLIENT, ...el.attrs };
}

/** The subset of the DOM that DomXmlCodec needs (browsers' DOMParser, or @xmldom/xmldom's). */
export interface DomNodeLike {
  nodeType: number;
  nodeName: string;
  nodeValue: string | null;
  childNodes: ArrayLike<DomNodeLike>;
  attributes?: ArrayLike<{ name: string; value: string }>;
  getElementsByTagName?(name: string): ArrayLike<unknown>;
}

export interface DomParserLike {
  parseFromString(text: string, type: 'text/xml'): { documentElement: DomNodeLike | null; getElementsByTagName(name: string): ArrayLike<unknown> };
}

/** Parses with a DOMParser (the browser's by default) and converts the DOM into elements. */
export class DomXmlCodec implements XmlCodec {
  constructor(private readonly DomParser: new () => DomParserLike = (globalThis as unknown as { DOMParser: new () => DomParserLike }).DOMParser) {}

  parseBody(text: string): Element {
    if (/<!DOCTYPE/i.test(text)) throw new XmlParseError('DTD not allowed');
    let doc: ReturnType<DomParserLike['parseFromString']>;
    try {
      doc = new this.DomParser().parseFromString(text, 'text/xml');
    } catch (err) {
      throw new XmlParseError((err as Error).message);
    }
    // Browsers report errors as a <parsererror> element instead of throwing.
    if (!doc.documentElement || doc.getElementsByTagName('parsererror').length > 0) {
      throw new XmlParseError('malformed XML in response');
    }
    return finishBody(convert(doc.documentElement));
  }

  serialize(el: Element): string {
    return serialize(el);
  }
}

/** Converts a DOM element (browser DOM or @xmldom/xmldom) into an Element, attribute names as written. */
export function domToElement(node: DomNodeLike): Element {
  return convert(node);
}

function convert(node: DomNodeLike): Element {
  const attrs: Record<string, string> = {};
  const list = node.attributes ?? [];
  for (let i = 0; i < list.length; i++) attrs[list[i]!.name] = list[i]!.value;
  const el = new Element(node.nodeName, attrs);
  for (let i = 0; i < node.childNodes.length; i++) {
    const c = node.childNodes[i]!;
    if (c.nodeType === 1) el.children.push(convert(c));
    else if (c.nodeType === 3 || c.nodeType === 4) el.children.push(c.nodeValue ?? '');
  }
  return el;
}
