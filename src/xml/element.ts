/**
 * A minimal XML element tree: what the parsers build and what the CM forwards.
 * Attribute names are kept literally (prefixes and `xmlns` declarations included), so an
 * element serializes back to what its sender meant without namespace rewriting (XEP-0206 §2,
 * docs/requirements.md X-04). Text nodes are stored unescaped.
 */
export type XmlNode = Element | string;

/**
 * How deep the parsers let an element nest when no limit is given: a stanza is depth 1, its
 * children 2, and so on (config `bosh.maxDepth` and `upstream.maxDepth`, docs/configuration.md).
 * Real stanzas stay near 10 (an XHTML-IM message inside a MAM result of a carbon copy is about
 * 12); 64 leaves room for anything legitimate and still keeps trees shallow.
 */
export const DEFAULT_MAX_DEPTH = 64;

export class Element {
  constructor(
    public name: string,
    public attrs: Record<string, string> = {},
    public children: XmlNode[] = [],
  ) {}

  /** The first child element with this name (and, if given, this `xmlns` attribute). */
  getChild(name: string, xmlns?: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== 'string' && child.name === name && (xmlns === undefined || child.attrs.xmlns === xmlns)) {
        return child;
      }
    }
    return undefined;
  }

  /** Child elements only (text nodes skipped). */
  elements(): Element[] {
    return this.children.filter((c): c is Element => typeof c !== 'string');
  }

  /** Concatenated text content of the direct text children. */
  text(): string {
    return this.children.filter((c): c is string => typeof c === 'string').join('');
  }

  /** The local part of the name (after the prefix, if any). */
  get localName(): string {
    const colon = this.name.indexOf(':');
    return colon === -1 ? this.name : this.name.slice(colon + 1);
  }

  /** The prefix of the name, or '' for an unprefixed name. */
  get prefix(): string {
    const colon = this.name.indexOf(':');
    return colon === -1 ? '' : this.name.slice(0, colon);
  }

  /**
   * A deep copy, so a copy can be changed without touching the original. Iterative: the depth
   * of a tree costs heap, never stack (a deep tree must not overflow the stack).
   */
  clone(): Element {
    const root = new Element(this.name, { ...this.attrs });
    const pending: Element[] = [this, root]; // pairs: original, its copy (children still to copy)
    while (pending.length > 0) {
      const copy = pending.pop()!;
      const original = pending.pop()!;
      const children = (copy.children = new Array<XmlNode>(original.children.length));
      for (let i = 0; i < children.length; i++) {
        const child = original.children[i]!;
        if (typeof child === 'string') {
          children[i] = child;
        } else {
          const childCopy = new Element(child.name, { ...child.attrs });
          children[i] = childCopy;
          pending.push(child, childCopy);
        }
      }
    }
    return root;
  }

  toString(): string {
    return serialize(this);
  }
}

const ATTR_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

export function escapeAttr(value: string): string {
  return /[&<>"']/.test(value) ? value.replace(/[&<>"']/g, (c) => ATTR_ESCAPES[c]!) : value;
}

export function escapeText(value: string): string {
  return /[&<>]/.test(value) ? value.replace(/[&<>]/g, (c) => TEXT_ESCAPES[c]!) : value;
}

/**
 * Serializes an element; attribute values in single quotes, as XMPP servers commonly do.
 * Iterative, with an explicit stack of open elements: any depth serializes (a deep tree must not
 * overflow the call stack; the parsers bound depth too, but this does not rely on them).
 */
export function serialize(root: Element): string {
  let out = openTag(root);
  if (root.children.length === 0) return out + '/>';
  out += '>';
  const open: Element[] = [root];
  /** For each open element, the index of its next child to write. */
  const next: number[] = [0];
  let top = 0;
  while (top >= 0) {
    const el = open[top]!;
    const children = el.children;
    let i = next[top]!;
    let descended = false;
    while (i < children.length) {
      const child = children[i++]!;
      if (typeof child === 'string') {
        out += escapeText(child);
        continue;
      }
      out += openTag(child);
      if (child.children.length === 0) {
        out += '/>';
        continue;
      }
      out += '>';
      next[top] = i;
      top++;
      open[top] = child;
      next[top] = 0;
      descended = true;
      break;
    }
    if (!descended) {
      out += '</' + el.name + '>';
      top--;
    }
  }
  return out;
}

/** `<name attr='value' ...`, unterminated. */
function openTag(el: Element): string {
  let out = '<' + el.name;
  for (const key in el.attrs) out += ' ' + key + "='" + escapeAttr(el.attrs[key]!) + "'";
  return out;
}

/** Serializes an element's start tag alone, unclosed (for stream headers). */
export function startTag(name: string, attrs: Record<string, string>): string {
  let out = '<' + name;
  for (const key in attrs) out += ' ' + key + "='" + escapeAttr(attrs[key]!) + "'";
  return out + '>';
}
