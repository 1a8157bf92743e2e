import { SaxesParser } from 'saxes';

/**
 * A namespace-aware reading of a document, as a browser's DOMParser does it: saxes with
 * `xmlns: true` rejects an unbound prefix and two attributes with one expanded name, which
 * the CM's own parsers (literal names) let through. Throws on anything not namespace-well-formed.
 */
export interface NsElement {
  /** The name as written, its namespace URI and local part. */
  name: string;
  uri: string;
  local: string;
  /** Attributes other than namespace declarations. */
  attrs: Array<{ name: string; uri: string; local: string; value: string }>;
  children: Array<NsElement | string>;
}

const NS_XMLNS = 'http://www.w3.org/2000/xmlns/';

export function parseNamespaced(xml: string): NsElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: NsElement[] = [];
  let root: NsElement | undefined;
  parser.on('opentag', (tag) => {
    const el: NsElement = { name: tag.name, uri: tag.uri, local: tag.local, attrs: [], children: [] };
    for (const name in tag.attributes) {
      const a = tag.attributes[name]!;
      if (a.uri === NS_XMLNS || name === 'xmlns') continue;
      el.attrs.push({ name, uri: a.uri, local: a.local, value: a.value });
    }
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => void stack.pop());
  parser.on('text', (text) => void stack[stack.length - 1]?.children.push(text));
  parser.write(xml).close();
  if (!root) throw new Error('no root element');
  return root;
}

/** Every attribute and element in namespace `uri` at or below `el`, as `name` strings ("@p:x", "<p:y>"). Iterative. */
export function namesInNamespace(el: NsElement, uri: string): string[] {
  const out: string[] = [];
  const todo: NsElement[] = [el];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (next.uri === uri) out.push(`<${next.name}>`);
    for (const a of next.attrs) if (a.uri === uri) out.push(`@${a.name}`);
    for (const c of next.children) if (typeof c !== 'string') todo.push(c);
  }
  return out;
}

/** The child elements of `el`. */
export function childElements(el: NsElement): NsElement[] {
  return el.children.filter((c): c is NsElement => typeof c !== 'string');
}

/** The value of the attribute with this expanded name, if any. */
export function attrNS(el: NsElement, uri: string, local: string): string | undefined {
  return el.attrs.find((a) => a.uri === uri && a.local === local)?.value;
}
