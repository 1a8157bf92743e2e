import { Element, type XmlNode } from '../xml/element.js';
import { NS_CLIENT, NS_SHARED } from '../protocol/namespaces.js';

/** Bound to the `xml` prefix by definition (Namespaces in XML 1.0 §3). */
const NS_XML = 'http://www.w3.org/XML/1998/namespace';

/**
 * docs/design.md D25: only the CM marks a stanza as an echo or a replay. Whatever a stanza
 * brings in the shared namespace (attributes and elements, under any prefix, at any depth) is
 * stripped before the CM adds its own marks, so a remote entity cannot make a member's client
 * take its message for a replay or for another tab's, and a copy never carries two attributes
 * with one expanded name (namespace-ill-formed: a browser's DOMParser rejects the whole body).
 *
 * Elements keep attribute names literally (src/xml/element.ts), so namespaces are resolved here:
 * from the declarations on the stanza and its ancestors. A prefix used but declared nowhere in
 * the stanza (a server may declare it on its stream header) is taken at its word in the body
 * it is delivered in, where `shared` is the body's own prefix for this namespace: an
 * undeclared `shared` prefix therefore counts as the shared namespace.
 */

/** What a stanza may carry that needs a look: the namespace itself, or the `shared` prefix. */
export function mayCarrySharedMarks(xml: string): boolean {
  return xml.includes(NS_SHARED) || xml.includes(' shared:') || xml.includes('<shared:');
}

/** The outcome of stripping one top-level element. */
export type Stripped =
  | { kind: 'clean'; element: Element }
  | { kind: 'stripped'; element: Element }
  /** The top-level element itself is in the shared namespace: nothing of it is a stanza. */
  | { kind: 'dropped' };

/** Namespaces in scope: prefix ('' for the default) -> URI. Copied only where a child declares. */
type Scope = ReadonlyMap<string, string>;

const ROOT_SCOPE: Scope = new Map([
  ['', NS_CLIENT],
  ['xml', NS_XML],
  ['shared', NS_SHARED],
]);

interface Frame {
  source: Element;
  copy: Element;
  scope: Scope;
  next: number;
}

/**
 * A copy of `el` without anything in the shared namespace, or `el` itself when `xml` (its
 * serialization) shows there is nothing to look for. Iterative: depth costs heap, not stack.
 */
export function stripSharedMarks(el: Element, xml: string): Stripped {
  if (!mayCarrySharedMarks(xml)) return { kind: 'clean', element: el };
  let changed = false;
  const open = (source: Element, parentScope: Scope): Frame | undefined => {
    const scope = scopeOf(source.attrs, parentScope);
    if (scope.get(prefixOf(source.name)) === NS_SHARED) return undefined;
    const attrs: Record<string, string> = {};
    for (const [name, value] of Object.entries(source.attrs)) {
      if (isShared(name, value, scope)) changed = true;
      else attrs[name] = value;
    }
    return { source, copy: new Element(source.name, attrs, []), scope, next: 0 };
  };
  const root = open(el, ROOT_SCOPE);
  if (!root) return { kind: 'dropped' };
  const stack: Frame[] = [root];
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    const child: XmlNode | undefined = frame.source.children[frame.next++];
    if (child === undefined) {
      stack.pop();
      continue;
    }
    if (typeof child === 'string') {
      frame.copy.children.push(child);
      continue;
    }
    const inner = open(child, frame.scope);
    if (!inner) {
      changed = true;
      continue;
    }
    frame.copy.children.push(inner.copy);
    stack.push(inner);
  }
  return changed ? { kind: 'stripped', element: root.copy } : { kind: 'clean', element: el };
}

/** An attribute in the shared namespace, or a declaration that binds a prefix to it. */
function isShared(name: string, value: string, scope: Scope): boolean {
  if (name === 'xmlns' || name.startsWith('xmlns:')) return value === NS_SHARED;
  const colon = name.indexOf(':');
  return colon > 0 && scope.get(name.slice(0, colon)) === NS_SHARED;
}

function scopeOf(attrs: Record<string, string>, parent: Scope): Scope {
  let scope: Map<string, string> | undefined;
  for (const name in attrs) {
    const uri = attrs[name];
    if (uri !== undefined && (name === 'xmlns' || name.startsWith('xmlns:'))) {
      scope ??= new Map(parent);
      scope.set(name === 'xmlns' ? '' : name.slice(6), uri);
    }
  }
  return scope ?? parent;
}

function prefixOf(name: string): string {
  const colon = name.indexOf(':');
  return colon === -1 ? '' : name.slice(0, colon);
}

/** The marks the CM puts on a stanza (D11, D14, D14b). */
export interface Marks {
  echo: boolean;
  replay: boolean;
}

/**
 * `el` (already stripped) with the CM's marks, serialized. The prefix is `shared` unless the
 * stanza binds `shared` to another namespace itself; then the first free `sharedN`. Clients
 * must match the marks by namespace, as any namespaced attribute (docs/shared-bosh.md §3).
 */
export function markedXml(el: Element, marks: Marks): string {
  const prefix = markPrefix(el.attrs);
  const attrs: Record<string, string> = el.prefix === '' ? { xmlns: NS_CLIENT, ...el.attrs } : { ...el.attrs };
  attrs['xmlns:' + prefix] = NS_SHARED;
  if (marks.echo) attrs[prefix + ':echo'] = 'true';
  if (marks.replay) attrs[prefix + ':replay'] = 'true';
  return new Element(el.name, attrs, el.children).toString();
}

function markPrefix(attrs: Record<string, string>): string {
  const own = attrs['xmlns:shared'];
  if (own === undefined || own === NS_SHARED) return 'shared';
  for (let n = 1; ; n++) if (attrs['xmlns:shared' + n] === undefined) return 'shared' + n;
}
