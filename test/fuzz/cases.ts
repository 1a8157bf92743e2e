/**
 * What one fuzz case does, as small plain data (so that fast-check prints a counterexample in a
 * few lines however large the XML it stands for), and how that data becomes text (`render`).
 *
 * A case runs against one fresh link (test/fuzz/world.ts): unshared, or shared by two members.
 * Its actions are: stanzas the scripted upstream writes to the link (`inbound`, what any XMPP
 * user or server can make arrive), payloads a member sends in a proper request (`send`), raw
 * HTTP bodies posted on a member's session (`post`) or without one (`create`).
 *
 * Text is made by one of: a literal template, a deeply nested element, a stanza carrying
 * Shared BOSH marks (`shared:echo`, `shared:replay`) under chosen prefixes, a generated element
 * tree, or a recorded body/stanza of test/fuzz/corpus.json with mutations applied. Templates
 * may hold placeholders, filled in at run time: {tag} (this link's tag, see world.ts), {n} (a
 * counter), {jid} (the link's full JID), {sid}, {key}, {rid}, {rid+K}, {rid-K}.
 */
import { NS_HTTPBIND } from '../../src/protocol/namespaces.js';

export type Gen =
  | { lit: string }
  | { deep: number; stanza: 'message' | 'iq' | 'presence' | 'bare'; child: string }
  | { forge: { prefix: string; mark: string; uri: string }[]; stanza: 'message' | 'iq' | 'presence'; onChild: boolean }
  | { tree: Tree; stanza: 'message' | 'iq' | 'presence' }
  | { corpus: 'bodies' | 'stanzas'; index: number; mutations: Mutation[] }
  | { big: number };

export interface Tree {
  name: string;
  /** A prefix of `name`, declared on this element. */
  prefix?: { p: string; uri: string };
  attrs: [string, string][];
  children: (Tree | string)[];
}

export type Mutation =
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'duplicate'; at: number; len: number; times: number }
  | { op: 'nest'; at: number; depth: number }
  | { op: 'attr'; at: number; name: string; value: string };

export type Action =
  | { do: 'inbound'; xml: Gen }
  | { do: 'send'; member: number; payload: Gen }
  | { do: 'post'; member: number; body: Gen; coding: 'identity' | 'gzip' | 'deflate' }
  | { do: 'create'; body: Gen };

export interface FuzzCase {
  shared: boolean;
  actions: Action[];
}

export interface Corpus {
  /** Request bodies (placeholders {sid}, {rid}, {key}). */
  bodies: string[];
  /** Top-level elements an XMPP server sent (placeholders {jid}). */
  stanzas: string[];
}

export interface RenderContext {
  tag: string;
  counter: () => number;
  jid: string;
  sid: string;
  key: string;
  rid: number;
  corpus: Corpus;
  /** Set by fill() when a template used {rid} itself (the request takes the session's next rid). */
  ridUsed?: boolean;
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' };
const esc = (s: string): string => s.replace(/[&<>'"]/g, (c) => ESC[c]!);

/** Fills the placeholders of a template. */
export function fill(template: string, ctx: RenderContext): string {
  return template.replace(/\{(tag|n|jid|sid|key|rid)([+-]\d+)?\}/g, (_, name: string, offset: string | undefined) => {
    switch (name) {
      case 'tag':
        return ctx.tag;
      case 'n':
        return String(ctx.counter());
      case 'jid':
        return esc(ctx.jid);
      case 'sid':
        return ctx.sid;
      case 'key':
        return ctx.key;
      default:
        if (offset === undefined) ctx.ridUsed = true;
        return String(ctx.rid + Number(offset ?? 0));
    }
  });
}

/**
 * The text a Gen stands for. `dir` chooses the id tag: `i` for what the upstream sends, `o` for
 * what a client sends, so that the checks can tell a forged echo from a real one.
 */
export function render(gen: Gen, ctx: RenderContext, dir: 'i' | 'o'): string {
  const id = `${ctx.tag}-${dir}${ctx.counter()}`;
  const to = dir === 'i' ? ` to='${esc(ctx.jid)}' from='eve@evil.example/x'` : ` to='eve@evil.example/x'`;
  if ('lit' in gen) return fill(gen.lit, ctx);
  if ('big' in gen) {
    // A large body: with gzip or deflate coding, a compression bomb (about 1,000 to 1).
    return fill(`<body rid='{rid}' sid='{sid}' xmlns='${NS_HTTPBIND}'><message id='${id}' to='eve@evil.example'><body>`, ctx)
      + 'x'.repeat(gen.big) + '</body></message></body>';
  }
  if ('deep' in gen) {
    const inner = '<a>'.repeat(gen.deep) + esc(gen.child) + '</a>'.repeat(gen.deep);
    if (gen.stanza === 'bare') return `<message id='${id}'${to}>${inner}</message>`;
    const type = gen.stanza === 'iq' ? " type='set'" : '';
    return `<${gen.stanza} id='${id}'${to}${type}>${inner}</${gen.stanza}>`;
  }
  if ('forge' in gen) {
    let marks = '';
    const declared = new Set<string>();
    for (const { prefix, mark, uri } of gen.forge) {
      if (!declared.has(prefix)) marks += ` xmlns:${prefix}='${esc(uri)}'`;
      declared.add(prefix);
      if (marks.includes(` ${prefix}:${mark}=`)) continue;
      marks += ` ${prefix}:${mark}='true'`;
    }
    const type = gen.stanza === 'iq' ? " type='get'" : gen.stanza === 'message' ? " type='chat'" : '';
    const body = gen.stanza === 'iq' ? `<query xmlns='jabber:iq:version'${gen.onChild ? marks : ''}/>` : `<body${gen.onChild ? marks : ''}>forged</body>`;
    return `<${gen.stanza} id='${id}'${to}${type}${gen.onChild ? '' : marks}>${body}</${gen.stanza}>`;
  }
  if ('tree' in gen) {
    const addressing: [string, string][] = dir === 'i' ? [['to', ctx.jid], ['from', 'eve@evil.example/x']] : [['to', 'eve@evil.example/x']];
    return renderTree({ ...gen.tree, name: gen.stanza, prefix: undefined, attrs: [['id', id], ...addressing, ...gen.tree.attrs] });
  }
  const source = (gen.corpus === 'bodies' ? ctx.corpus.bodies : ctx.corpus.stanzas);
  if (source.length === 0) return '';
  let text = fill(source[gen.index % source.length]!, ctx);
  for (const m of gen.mutations) text = mutate(text, m, ctx);
  return text;
}

function renderTree(t: Tree): string {
  let out = '<' + t.name;
  const seen = new Set<string>();
  if (t.prefix) {
    out += ` xmlns:${t.prefix.p}='${esc(t.prefix.uri)}'`;
    seen.add(`xmlns:${t.prefix.p}`);
  }
  for (const [name, value] of t.attrs) {
    if (seen.has(name)) continue;
    seen.add(name);
    out += ` ${name}='${esc(value)}'`;
  }
  if (t.children.length === 0) return out + '/>';
  out += '>';
  for (const c of t.children) out += typeof c === 'string' ? esc(c).replace(/]]>/g, ']]&gt;') : renderTree(c);
  return out + `</${t.name}>`;
}

/** Applies one mutation; positions are fractions of the text's length (so they survive other mutations). */
export function mutate(text: string, m: Mutation, ctx: RenderContext): string {
  const at = Math.min(text.length, Math.floor(m.at * (text.length + 1)));
  switch (m.op) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'insert':
      return text.slice(0, at) + fill(m.text, ctx) + text.slice(at);
    case 'duplicate': {
      const part = text.slice(at, at + m.len);
      return text.slice(0, at) + part.repeat(m.times + 1) + text.slice(at + m.len);
    }
    case 'nest': {
      // Right after a '>' the wrapper lands in element content, where it keeps the text well-formed.
      const gt = text.indexOf('>', at);
      if (gt < 0) return text;
      return text.slice(0, gt + 1) + '<n>'.repeat(m.depth) + '</n>'.repeat(m.depth) + text.slice(gt + 1);
    }
    case 'attr': {
      const tagStart = text.indexOf('<', at);
      if (tagStart < 0 || text[tagStart + 1] === '/' || text[tagStart + 1] === '?' || text[tagStart + 1] === '!') return text;
      const nameEnd = text.slice(tagStart + 1).search(/[\s/>]/);
      if (nameEnd < 0) return text;
      const cut = tagStart + 1 + nameEnd;
      return text.slice(0, cut) + ` ${m.name}='${fill(m.value, ctx)}'` + text.slice(cut);
    }
  }
}

/** A one-line description of a case, long texts cut. */
export function describeCase(c: FuzzCase): string {
  return JSON.stringify(c, (_k, v: unknown) => (typeof v === 'string' && v.length > 120 ? `${v.slice(0, 120)}...(${v.length} chars)` : v));
}
