import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { DEFAULT_MAX_DEPTH, Element } from './element.js';
import { ownString } from './strings.js';

/** The root's name as (nearly) every server writes it. */
const USUAL_ROOT = 'stream:stream';

/** Thrown from a handler to stop saxes once `</stream:stream>` has closed the stream. */
const STREAM_END = Symbol('stream end');

import { NS_STREAMS } from '../protocol/namespaces.js';

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
  /**
   * Top-level elements that nested deeper than `maxDepth` and were not built: the element's
   * name and attributes only, no children. The caller decides what to tell whom.
   */
  dropped?: Element[];
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
  /**
   * Deepest nesting of a top-level element (the element itself is depth 1). A deeper element is
   * parsed to its end but not built, and reported in `dropped`. @default 64 (DEFAULT_MAX_DEPTH)
   */
  maxDepth?: number;
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
  private readonly maxDepth: number;
  private readonly keepRaw: boolean;
  /**
   * The saxes instance, only while it holds something: an idle stream (between top-level
   * elements, nothing but whitespace pending) drops it, and the next write() starts a new one
   * already inside the root element (see resume()). An idle stream then costs a few fields
   * instead of a parser, its buffers and the last chunk it read.
   */
  private sax: LentParser | undefined;
  /** Where this.sax's position 0 lies in the concatenated input (negative: the primer). */
  private saxOffset = 0;
  /** The header's name as written (`stream:stream`), and its XML version if not 1.0. */
  private rootName = '';
  /**
   * The header's name of the stream before the last reset() ('' before the first stream): after
   * a restart the server may answer on the old stream, with `<stream:error/>` and no new header.
   */
  private previousRoot = '';
  private xmlVersion: string | undefined;
  private stack: Element[] = [];
  /** Levels of elements open below maxDepth, parsed but not built (0: none). */
  private skipping = 0;
  /** The top-level element in progress went deeper than maxDepth: it is dropped when it ends. */
  private tooDeep = false;
  /** The stream error in progress came instead of a header (see previousRoot). */
  private headerless = false;
  /** Something other than whitespace was written to this stream. */
  private started = false;
  private headerSeen = false;
  /** The stream ended or failed: further input is ignored. */
  private done = false;
  /**
   * saxes' position right after a closing tag popped the root (undefined before). saxes calls
   * the close handler before it compares names: a root close is only the stream's end once saxes
   * has gone past it without a mismatch error at this same position.
   */
  private rootClosedAt: number | undefined;
  /** Position (in the concatenated input) where the current top-level unit began. */
  private unitStart = 0;
  /** Characters written to this stream so far. */
  private written = 0;
  /** Input text not yet consumed into a raw element, starting at unitStart (keepRaw only). */
  private pendingRaw = '';
  /** What the write() in progress completed (undefined between writes: nothing is retained). */
  private out: StreamChunk | undefined;

  constructor(options: XmppStreamParserOptions = {}) {
    this.maxChars = options.maxElementChars ?? 1_048_576;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.keepRaw = options.keepRaw ?? false;
    this.reset();
  }

  /**
   * Forget everything: the next write() starts a new stream (new header, new `<?xml?>`), or
   * brings the previous stream's `<stream:error/>` (a server refusing the restart).
   */
  reset(): void {
    this.sax = undefined;
    this.saxOffset = 0;
    if (this.rootName !== '') this.previousRoot = this.rootName;
    this.rootName = '';
    this.xmlVersion = undefined;
    this.stack = [];
    this.skipping = 0;
    this.tooDeep = false;
    this.headerless = false;
    this.started = false;
    this.headerSeen = false;
    this.done = false;
    this.rootClosedAt = undefined;
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
    const before = this.written;
    try {
      const sax = this.sax ?? this.resume();
      sax.parser.write(chunk);
      if (this.rootClosedAt !== undefined) throw STREAM_END;
      this.written += chunk.length;
      // RFC 6120 §13.12 (resource exhaustion): bound an element still in progress too.
      // (saxes' position is exact only inside its handlers, hence our own count here.)
      if (this.written - this.unitStart > this.maxChars) this.tooLarge();
      if (this.headerSeen && this.stack.length === 0 && this.unitStart >= before && isWhitespace(chunk, this.unitStart - before)) {
        // Idle: nothing but whitespace after the last complete unit. Whitespace between
        // top-level elements carries nothing (onText ignores it), so the parser can go, and
        // the stack's grown backing store with it. The saxes instance goes back to the spares
        // for the next stream that reads (it is in a known, clean state here).
        this.sax = undefined;
        this.stack = [];
        sax.release(this.rootName);
      }
    } catch (err) {
      this.done = true;
      this.sax = undefined;
      this.stack = [];
      this.skipping = 0;
      if (err === STREAM_END) out.end = true;
      else out.error = err instanceof StreamParseError ? err : new StreamParseError('not-well-formed', (err as Error).message);
    } finally {
      this.out = undefined;
    }
    return out;
  }

  /**
   * A saxes instance for the next write(): at the start of a stream a plain one; inside the
   * stream one primed with the root's start tag (and the declared XML version), which is the
   * state the previous instance was in when it was dropped. Nothing is reported for the primer.
   */
  private resume(): LentParser {
    const sax = LentParser.take();
    let primer = '';
    if (this.headerSeen) {
      primer = (this.xmlVersion === undefined ? '' : `<?xml version='${this.xmlVersion}'?>`) + '<' + this.rootName + '>';
      sax.parser.write(primer); // not reported: the parser has no owner yet
    }
    sax.lend(this);
    this.saxOffset = this.written - primer.length;
    this.sax = sax;
    return sax;
  }

  /** The current position in the concatenated input (exact inside saxes' handlers). */
  private get position(): number {
    return this.saxOffset + this.sax!.parser.position;
  }

  /** saxes found the input not well-formed (its default would be to throw the same error). */
  /** @internal (saxes handler, through LentParser) */
  onError(err: Error): never {
    // After a restart: `</stream:stream>` in place of a header ends the old stream.
    if (!this.headerSeen && this.stack.length === 0 && this.previousRoot !== '' && err.message.includes(`unmatched closing tag: ${this.previousRoot}.`)) {
      throw STREAM_END;
    }
    if (this.rootClosedAt !== undefined) {
      // RFC 6120 §4.9.3.13: `</x>` at the stream level, where only `</stream:stream>` may close.
      if (this.position === this.rootClosedAt) throw new StreamParseError('not-well-formed', `closing tag does not match <${this.rootName}>: ${err.message}`);
      // Whatever follows the end of the stream belongs to no stream.
      throw STREAM_END;
    }
    throw err;
  }

  /** @internal (saxes handler, through LentParser) */
  onOpen(tag: SaxesTagPlain): void {
    if (this.rootClosedAt !== undefined) throw STREAM_END;
    const attrs = tag.attributes as Record<string, string>;
    if (!this.headerSeen && this.stack.length === 0) {
      if (this.isPreviousStreamError(tag.name)) this.headerless = true; // built like any element below
      else {
        this.openStream(tag.name, attrs);
        return;
      }
    }
    // RFC 6120 §13.12 (resource exhaustion): a tree deeper than maxDepth is not built. saxes
    // keeps checking it is well-formed; the element is reported in `dropped` when it ends.
    if (this.skipping > 0 || this.stack.length >= this.maxDepth) {
      this.skipping++;
      this.tooDeep = true;
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
    // The usual name is kept as the one string every stream shares (kept for the stream's life).
    this.rootName = name === USUAL_ROOT ? USUAL_ROOT : ownString(name);
    const version = this.sax!.parser.xmlDecl.version;
    this.xmlVersion = version === undefined || version === '1.0' ? undefined : version;
    // Kept for the whole stream: own copies, not slices that would pin the chunk they came from.
    const own: Record<string, string> = {};
    for (const key in attrs) own[key] = ownString(attrs[key]!);
    this.out!.header = { name: this.rootName, attrs: own };
    this.endUnit();
  }

  /** @internal (saxes handler, through LentParser) */
  onClose(): void {
    if (this.skipping > 0) {
      this.skipping--;
      return;
    }
    const el = this.stack.pop();
    if (!el) {
      // A closing tag at the stream level: the end if it names the root (see rootClosedAt).
      this.rootClosedAt = this.position;
      return;
    }
    if (this.stack.length > 0) return;
    if (this.position - this.unitStart > this.maxChars) this.tooLarge();
    if (this.tooDeep) {
      this.tooDeep = false;
      (this.out!.dropped ??= []).push(new Element(el.name, el.attrs));
    } else {
      this.out!.elements.push(el);
      if (this.keepRaw) this.out!.raw!.push(this.pendingRaw.slice(0, this.position - this.unitStart).trimStart());
    }
    this.endUnit();
    // The old stream's error was its last word (RFC 6120 §4.9.1.1); `</stream:stream>` follows.
    if (this.headerless) throw STREAM_END;
  }

  /** `<stream:error>` (with the previous stream's prefix) where a new header was expected. */
  private isPreviousStreamError(name: string): boolean {
    if (this.previousRoot === '') return false;
    const colon = this.previousRoot.indexOf(':');
    return name === (colon === -1 ? 'error' : this.previousRoot.slice(0, colon + 1) + 'error');
  }

  /** @internal (saxes handler, through LentParser) */
  onText(text: string): void {
    if (this.rootClosedAt !== undefined) throw STREAM_END;
    if (this.skipping > 0) return;
    // Whitespace between top-level elements (depth 1) is not part of any element.
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children.push(text);
  }

  private endUnit(): void {
    const pos = this.position;
    if (this.keepRaw) this.pendingRaw = this.pendingRaw.slice(pos - this.unitStart);
    this.unitStart = pos;
  }

  private tooLarge(): never {
    throw new StreamParseError('policy-violation', `top-level element larger than ${this.maxChars} characters`);
  }
}

/**
 * A saxes instance with its handlers set once, lent to one stream parser at a time. A stream
 * parser drops its saxes instance whenever the stream is idle (see XmppStreamParser.sax), which
 * on a busy link is after nearly every read: constructing a new one for the next read cost
 * about 1 KiB of garbage per read (the parser, its state table, six handler closures). A
 * released instance is reset through saxes' own public path (the document completed, then
 * close()) and kept among a few spares.
 */
class LentParser {
  private static readonly spares: LentParser[] = [];
  /** Spares kept: reads are synchronous, so one is lent at a time unless a handler re-enters. */
  private static readonly MAX_SPARES = 4;

  readonly parser = new SaxesParser({ xmlns: false, position: false });
  private owner: XmppStreamParser | undefined;
  /** saxes reported an error while no stream parser owned it (during release). */
  private broken = false;

  private constructor() {
    const parser = this.parser;
    // RFC 6120 §11.1: no DTDs, hence no entity declarations; only the five predefined
    // entities and character references (saxes rejects any other entity reference).
    parser.on('doctype', () => {
      if (this.owner) throw new StreamParseError('restricted-xml', 'DOCTYPE is not allowed in an XMPP stream');
    });
    parser.on('error', (err) => {
      if (this.owner) this.owner.onError(err);
      else this.broken = true;
    });
    parser.on('opentag', (tag) => this.owner?.onOpen(tag));
    parser.on('closetag', () => this.owner?.onClose());
    parser.on('text', (text) => this.owner?.onText(text));
    parser.on('cdata', (text) => this.owner?.onText(text));
  }

  /** A saxes instance in its initial state, reporting to nobody until lend(). */
  static take(): LentParser {
    return LentParser.spares.pop() ?? new LentParser();
  }

  /** From now on saxes' events go to `owner`. */
  lend(owner: XmppStreamParser): void {
    this.owner = owner;
  }

  /**
   * Back to the spares. Only from a parser inside the root element `rootName` with nothing
   * pending (no tag, text or entity in progress): closing the root then completes the
   * document, and close() resets saxes to its initial state. Anything unexpected drops it.
   */
  release(rootName: string): void {
    this.owner = undefined;
    if (LentParser.spares.length >= LentParser.MAX_SPARES) return;
    try {
      this.parser.write('</' + rootName + '>').close();
      if (!this.broken) LentParser.spares.push(this);
    } catch {
      // Not reusable; the garbage collector takes it.
    }
  }
}

/** Whether `text` from `from` on is XML whitespace only (S: space, tab, CR, LF). */
function isWhitespace(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}
