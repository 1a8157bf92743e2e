import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { Element } from './element.js';

/** Thrown from the close handler to stop saxes at `</stream:stream>`. */
const STREAM_END = Symbol('stream end');

export const NS_STREAMS = 'http://etherx.jabber.org/streams';

/** RFC 6120 §4.9.3 conditions a parser failure maps to. */
export type StreamParseCondition = 'not-well-formed' | 'restricted-xml' | 'policy-violation';

export class StreamParseError extends Error {
  override name = 'StreamParseError';
  constructor(
    public readonly condition: StreamParseCondition,
    message: string,
  ) {
    super(message);
  }
}

/** The stream's opening tag (`<stream:stream ...>`): its name as written and its attributes. */
export interface StreamHeader {
  name: string;
  attrs: Record<string, string>;
}

/**
 * What one write() completed, in stream order: the header comes before any element of its
 * stream, the end or the error after the last element that was complete before it.
 */
export interface StreamChunk {
  header?: StreamHeader;
  elements: Element[];
  /** The top-level elements as written, parallel to `elements` (only with `keepRaw`). */
  raw?: string[];
  /** `</stream:stream>` arrived; nothing more is parsed until reset(). */
  end: boolean;
  /** The stream is not acceptable XML; nothing more is parsed until reset(). */
  error?: StreamParseError;
}

export interface XmppStreamParserOptions {
  /**
   * Largest top-level element, counted in UTF-16 code units from the end of the previous
   * element (so whitespace between elements counts). A code unit never stands for fewer than
   * one UTF-8 byte, so this is at most as strict as the same limit in bytes.
   * @default 1048576
   */
  maxElementChars?: number;
  /** Keep each top-level element's source text (for test servers and diagnostics). @default false */
  keepRaw?: boolean;
}

/**
 * A streaming parser for one XMPP stream (RFC 6120 §4): feed it decoded text in chunks split
 * anywhere; each write() returns what that chunk completed, so a caller can pass one batch per
 * socket read. Attribute names are kept literally (no namespace processing, see element.ts).
 * One parser serves one stream: call reset() when a new stream starts (restart, after TLS).
 */
export class XmppStreamParser {
  private readonly maxChars: number;
  private readonly keepRaw: boolean;
  private sax!: SaxesParser;
  private stack: Element[] = [];
  /** Something other than whitespace was written to this stream. */
  private started = false;
  private headerSeen = false;
  /** The stream ended or failed: further input is ignored. */
  private done = false;
  /** Position (in the concatenated input) where the current top-level unit began. */
  private unitStart = 0;
  /** Characters written to this stream so far. */
  private written = 0;
  /** Input text not yet consumed into a raw element, starting at unitStart (keepRaw only). */
  private pendingRaw = '';
  private out: StreamChunk = { elements: [], end: false };

  constructor(options: XmppStreamParserOptions = {}) {
    this.maxChars = options.maxElementChars ?? 1_048_576;
    this.keepRaw = options.keepRaw ?? false;
    this.reset();
  }

  /** Forget everything: the next write() starts a new stream (new header, new `<?xml?>`). */
  reset(): void {
    this.sax = this.createSax();
    this.stack = [];
    this.started = false;
    this.headerSeen = false;
    this.done = false;
    this.unitStart = 0;
    this.written = 0;
    this.pendingRaw = '';
  }

  write(chunk: string): StreamChunk {
    const out: StreamChunk = this.keepRaw ? { elements: [], raw: [], end: false } : { elements: [], end: false };
    if (this.done) return out;
    if (!this.started) {
      // RFC 6120 §4.2: whitespace before a new stream header (e.g. a keepalive after a restart)
      // would make saxes reject the XML declaration; it carries nothing, so drop it.
      chunk = chunk.trimStart();
      if (chunk === '') return out;
      this.started = true;
    }
    if (this.keepRaw) this.pendingRaw += chunk;
    this.out = out;
    try {
      this.sax.write(chunk);
      this.written += chunk.length;
      // RFC 6120 §13.12 (resource exhaustion): bound an element still in progress too.
      // (saxes' position is exact only inside its handlers, hence our own count here.)
      if (this.written - this.unitStart > this.maxChars) this.tooLarge();
    } catch (err) {
      this.done = true;
      if (err === STREAM_END) return out;
      out.error = err instanceof StreamParseError ? err : new StreamParseError('not-well-formed', (err as Error).message);
    }
    return out;
  }

  private createSax(): SaxesParser {
    const sax = new SaxesParser({ xmlns: false, position: false });
    // RFC 6120 §11.1: no DTDs, hence no entity declarations; only the five predefined
    // entities and character references (saxes rejects any other entity reference).
    sax.on('doctype', () => {
      throw new StreamParseError('restricted-xml', 'DOCTYPE is not allowed in an XMPP stream');
    });
    sax.on('opentag', (tag) => this.onOpen(tag));
    sax.on('closetag', () => this.onClose());
    sax.on('text', (text) => this.onText(text));
    sax.on('cdata', (text) => this.onText(text));
    return sax;
  }

  private onOpen(tag: SaxesTagPlain): void {
    const attrs = tag.attributes as Record<string, string>;
    if (!this.headerSeen) {
      this.openStream(tag.name, attrs);
      return;
    }
    const el = new Element(tag.name, attrs);
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children.push(el);
    this.stack.push(el);
  }

  private openStream(name: string, attrs: Record<string, string>): void {
    const colon = name.indexOf(':');
    const prefix = colon === -1 ? '' : name.slice(0, colon);
    const local = colon === -1 ? name : name.slice(colon + 1);
    if (local !== 'stream' || attrs[prefix === '' ? 'xmlns' : 'xmlns:' + prefix] !== NS_STREAMS) {
      throw new StreamParseError('not-well-formed', `expected a stream header, got <${name}>`);
    }
    this.headerSeen = true;
    this.out.header = { name, attrs };
    this.endUnit();
  }

  private onClose(): void {
    const el = this.stack.pop();
    if (!el) {
      // The root closed: `</stream:stream>` (saxes checked the name matches). Stop here:
      // whatever follows belongs to no stream.
      this.out.end = true;
      throw STREAM_END;
    }
    if (this.stack.length > 0) return;
    if (this.sax.position - this.unitStart > this.maxChars) this.tooLarge();
    this.out.elements.push(el);
    if (this.keepRaw) this.out.raw!.push(this.pendingRaw.slice(0, this.sax.position - this.unitStart).trimStart());
    this.endUnit();
  }

  private onText(text: string): void {
    // Whitespace between top-level elements (depth 1) is not part of any element.
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children.push(text);
  }

  private endUnit(): void {
    const pos = this.sax.position;
    if (this.keepRaw) this.pendingRaw = this.pendingRaw.slice(pos - this.unitStart);
    this.unitStart = pos;
  }

  private tooLarge(): never {
    throw new StreamParseError('policy-violation', `top-level element larger than ${this.maxChars} characters`);
  }
}
