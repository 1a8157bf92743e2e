/**
 * A minimal XML element tree: what the parsers build and what the CM forwards.
 * Attribute names are kept literally (prefixes and `xmlns` declarations included), so an
 * element serializes back to what its sender meant without namespace rewriting (XEP-0206 §2,
 * docs/requirements.md X-04). Text nodes are stored unescaped.
 */
export type XmlNode = Element | string;

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

  /** A deep copy, so a copy can be changed without touching the original. */
  clone(): Element {
    return new Element(
      this.name,
      { ...this.attrs },
      this.children.map((c) => (typeof c === 'string' ? c : c.clone())),
    );
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

/** Serializes an element; attribute values in single quotes, as XMPP servers commonly do. */
export function serialize(el: Element): string {
  let out = '<' + el.name;
  for (const key in el.attrs) out += ' ' + key + "='" + escapeAttr(el.attrs[key]!) + "'";
  if (el.children.length === 0) return out + '/>';
  out += '>';
  for (const child of el.children) out += typeof child === 'string' ? escapeText(child) : serialize(child);
  return out + '</' + el.name + '>';
}

/** Serializes an element's start tag alone, unclosed (for stream headers). */
export function startTag(name: string, attrs: Record<string, string>): string {
  let out = '<' + name;
  for (const key in attrs) out += ' ' + key + "='" + escapeAttr(attrs[key]!) + "'";
  return out + '>';
}
