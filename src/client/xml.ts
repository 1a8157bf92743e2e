import { Element, type XmlNode } from '../xml/element.js';
import { NS } from './namespaces.js';

export { Element };

type Child = XmlNode | null | undefined | false;

/**
 * Builds an element: `xml('iq', { type: 'get', id: 'a1' }, xml('ping', { xmlns: 'urn:xmpp:ping' }))`.
 * `undefined` attribute values are left out; null/false children are skipped.
 */
export function xml(name: string, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): Element {
  const clean: Record<string, string> = {};
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined) clean[key] = String(value);
  }
  return new Element(name, clean, children.filter((c): c is XmlNode => c !== null && c !== undefined && c !== false));
}

/** The namespace URI declared for `prefix` ('' = default) on this element itself, if any. */
function declared(el: Element, prefix: string): string | undefined {
  return el.attrs[prefix === '' ? 'xmlns' : 'xmlns:' + prefix];
}

/**
 * The namespace of `el`, resolved against its own declarations and then `inherited` (the
 * namespace of its parent's scope for unprefixed names). Stanzas from the codec carry the
 * declarations they use (see XmlCodec), so a top-level element resolves on its own.
 */
export function namespaceOf(el: Element, inherited: string = NS.CLIENT): string {
  return declared(el, el.prefix) ?? (el.prefix === '' ? inherited : '');
}

/** The first child with this local name and namespace (unprefixed children inherit the parent's). */
export function child(parent: Element, localName: string, ns?: string, parentNs?: string): Element | undefined {
  const scope = parentNs ?? namespaceOf(parent);
  for (const c of parent.elements()) {
    if (c.localName !== localName) continue;
    if (ns === undefined) return c;
    const own = declared(c, c.prefix) ?? (c.prefix === '' ? scope : declared(parent, c.prefix));
    if (own === ns) return c;
  }
  return undefined;
}

/** Every child with this local name (any namespace). */
export function children(parent: Element, localName: string): Element[] {
  return parent.elements().filter((c) => c.localName === localName);
}

/** Text content of an element and all its descendants. */
export function textOf(el: Element): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}

/**
 * An attribute in namespace `ns` (e.g. `shared:echo`), found by the prefix the element (or
 * `scope`, the enclosing `<body/>`) declares for `ns`, never by a fixed prefix.
 */
export function attrNS(el: Element, ns: string, localName: string, scope?: Element): string | undefined {
  for (const holder of scope ? [el, scope] : [el]) {
    for (const name in holder.attrs) {
      if (!name.startsWith('xmlns:') || holder.attrs[name] !== ns) continue;
      const value = el.attrs[name.slice(6) + ':' + localName];
      if (value !== undefined) return value;
    }
  }
  return undefined;
}

/** The Shared BOSH attribute `shared:<localName>` of a body or stanza. */
export function sharedAttr(el: Element, localName: string, scope?: Element): string | undefined {
  return attrNS(el, NS.SHARED, localName, scope);
}

/** A copy of `stanza` with every `shared:*` attribute (and its declaration) removed. */
export function stripShared(stanza: Element): Element {
  const copy = stanza.clone();
  for (const name in copy.attrs) {
    if (!name.startsWith('xmlns:') || copy.attrs[name] !== NS.SHARED) continue;
    const prefix = name.slice(6) + ':';
    delete copy.attrs[name];
    for (const attr of Object.keys(copy.attrs)) if (attr.startsWith(prefix)) delete copy.attrs[attr];
  }
  return copy;
}
