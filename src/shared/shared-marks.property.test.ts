import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSharedHarness, KEY, SHARED_NS } from '../../test/support/shared-harness.js';
import { HTTPBIND, type FakeExchange } from '../../test/support/bosh-harness.js';
import { attrNS, childElements, namesInNamespace, parseNamespaced, type NsElement } from '../../test/support/namespaced-xml.js';
import { escapeAttr, escapeText } from '../xml/element.js';
import { NS_SHARED } from '../protocol/namespaces.js';

/**
 * D25 as a property: whatever stanzas the server and the members send (random prefixes, forged
 * shared attributes and elements at any depth, directed presence into the snapshot), every
 * body the CM writes to a member is namespace-well-formed, read as a browser reads it, and
 * the only shared-namespace marks on a stanza are the CM's own: `echo` exactly on copies of
 * members' stanzas, `replay` exactly in attach responses. Attaches with shared:since also
 * check D14/D14b: no stanza twice in one attach body.
 */

const PREFIXES = ['shared', 's', 'x', 'evil'];
const NAMESPACES = [NS_SHARED, 'urn:example:a', 'urn:example:b', 'jabber:x:oob'];
const LOCALS = ['echo', 'replay', 'seq', 'item', 'note'];

/** A random element before its namespaces are resolved: indices into the pools above. */
interface Shape {
  decls: Array<[number, number]>;
  defaultNs: number | null;
  namePrefix: number | null;
  local: number;
  attrs: Array<[number | null, number]>;
  text: boolean;
  children: Shape[];
}

const decls = fc.array(fc.tuple(fc.nat(PREFIXES.length - 1), fc.nat(NAMESPACES.length - 1)), { maxLength: 2 });
const attrs = fc.array(fc.tuple(fc.option(fc.nat(7), { nil: null }), fc.nat(LOCALS.length - 1)), { maxLength: 3 });

function shapeAt(depth: number): fc.Arbitrary<Shape> {
  return fc.record({
    decls,
    defaultNs: fc.option(fc.nat(NAMESPACES.length - 1), { nil: null, freq: 4 }),
    namePrefix: fc.option(fc.nat(7), { nil: null }),
    local: fc.nat(LOCALS.length - 1),
    attrs,
    text: fc.boolean(),
    children: depth === 0 ? fc.constant([]) : fc.array(shapeAt(depth - 1), { maxLength: 2 }),
  });
}

const shape = shapeAt(3);

/**
 * Namespace-well-formed XML for a shape (what a real server or client sends), except that the
 * `shared` prefix may be used undeclared: a server can declare it on its stream header.
 */
function render(s: Shape, inScope: Map<string, string>, top?: { name: string; attrs: Record<string, string> }): string {
  const scope = new Map(inScope);
  const out: Record<string, string> = { ...top?.attrs };
  for (const [p, n] of s.decls) {
    out['xmlns:' + PREFIXES[p]!] = NAMESPACES[n]!;
    scope.set(PREFIXES[p]!, NAMESPACES[n]!);
  }
  if (!top && s.defaultNs !== null) out.xmlns = NAMESPACES[s.defaultNs]!;
  const usable = [...scope.keys()];
  const pick = (i: number | null) => (i === null || usable.length === 0 ? '' : usable[i % usable.length]! + ':');
  const name = top?.name ?? pick(s.namePrefix) + LOCALS[s.local]!;
  const expanded = new Set<string>();
  for (const [p, l] of s.attrs) {
    const qname = pick(p) + LOCALS[l]!;
    const uri = qname.includes(':') ? scope.get(qname.slice(0, qname.indexOf(':')))! : '';
    const key = uri + ' ' + LOCALS[l]!;
    // Two attributes with one expanded name are the sender's error, except in the shared
    // namespace, where the CM must cope with them (it strips them all).
    if (qname in out || (uri !== NS_SHARED && expanded.has(key))) continue;
    expanded.add(key);
    out[qname] = 'true';
  }
  let xml = '<' + name;
  for (const k in out) xml += ` ${k}='${escapeAttr(out[k]!)}'`;
  const inner = (s.text ? escapeText("a & <b> 'shared:echo'") : '') + s.children.map((c) => render(c, scope)).join('');
  return inner === '' ? xml + '/>' : `${xml}>${inner}</${name}>`;
}

const ROOT_SCOPE = new Map([['shared', NS_SHARED]]);

type Action =
  | { kind: 'inbound'; stanza: 'message' | 'presence'; shape: Shape }
  | { kind: 'outbound'; member: number; stanza: 'message' | 'presence'; shape: Shape }
  | { kind: 'attach'; since: 'none' | 'zero' | 'last' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('inbound' as const), stanza: fc.constantFrom('message' as const, 'presence' as const), shape }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('outbound' as const), member: fc.nat(3), stanza: fc.constantFrom('message' as const, 'presence' as const), shape }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('attach' as const), since: fc.constantFrom('none' as const, 'zero' as const, 'last' as const) }) },
);

interface Member {
  req(payload?: string): FakeExchange;
  held: FakeExchange;
  /** Ids of what this member sent (others must see them as echoes). */
  seen: FakeExchange[];
  lastSeq: number;
}

function idOf(el: NsElement): string | undefined {
  return el.attrs.find((a) => a.name === 'id')?.value;
}

test("D25 S-07 S-08 D14 D14b: every body to every member is namespace-well-formed and carries no shared mark but the CM's own", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 12 }), async (actions) => {
      const h = createSharedHarness();
      const creator = await h.creator();
      const members: Member[] = [{ req: creator.req, held: creator.held, seen: [creator.held], lastSeq: 0 }];
      const own = new Set<string>();
      let n = 0;
      /** Attach responses to check: the body and its stanza ids. */
      const attaches: FakeExchange[] = [];
      const poll = () => {
        for (const m of members) {
          if (!m.held.answered) continue;
          const seq = Number(m.held.attrs['shared:seq']);
          if (Number.isFinite(seq)) m.lastSeq = Math.max(m.lastSeq, seq);
          m.held = m.req();
          m.seen.push(m.held);
        }
      };
      for (const a of actions) {
        const id = `${a.kind}-${++n}`;
        if (a.kind === 'inbound') {
          const to = a.stanza === 'presence' && n % 2 === 0 ? " to='user@example.com/res'" : '';
          creator.up.server(render(a.shape, ROOT_SCOPE, { name: a.stanza, attrs: { from: `bob${n % 3}@example.com/x`, id } }).replace(`<${a.stanza}`, `<${a.stanza}${to}`));
        } else if (a.kind === 'outbound') {
          const m = members[a.member % members.length]!;
          own.add(id);
          const top: Record<string, string> = { xmlns: 'jabber:client', id };
          if (a.stanza === 'message') top.to = 'bob@example.com';
          m.seen.push(m.req(render(a.shape, ROOT_SCOPE, { name: a.stanza, attrs: top })));
        } else {
          const since = a.since === 'none' ? '' : ` shared:since='${a.since === 'zero' ? 0 : members[0]!.lastSeq}'`;
          const c = await h.client(`shared:key='${KEY}' ${SHARED_NS}${since}`);
          if (c.creation.attrs['shared:result'] !== 'attached') continue;
          attaches.push(c.creation);
          const held = c.req();
          members.push({ req: (p = '') => c.req(p), held, seen: [c.creation, held], lastSeq: 0 });
        }
        poll();
      }
      for (const m of members) {
        for (const ex of m.seen) {
          if (!ex.answered) continue;
          for (const reply of ex.replies) {
            const body = parseNamespaced(reply.body); // throws when namespace-ill-formed
            const isAttach = attaches.includes(ex);
            const ids = new Set<string>();
            for (const stanza of childElements(body)) {
              if (stanza.uri !== 'jabber:client') continue;
              const marks = namesInNamespace(stanza, NS_SHARED);
              for (const mark of marks) assert.match(mark, /^@[a-z0-9]+:(echo|replay)$/, `only the CM's marks, on the stanza itself: ${reply.body}`);
              const stanzaId = idOf(stanza);
              if (stanzaId === undefined) continue;
              assert.equal(attrNS(stanza, NS_SHARED, 'echo'), own.has(stanzaId) ? 'true' : undefined, `echo exactly on members' stanzas: ${reply.body}`);
              assert.equal(attrNS(stanza, NS_SHARED, 'replay'), isAttach ? 'true' : undefined, `replay exactly in attach responses: ${reply.body}`);
              if (isAttach) {
                assert.equal(ids.has(stanzaId), false, `D14 D14b: ${stanzaId} twice in one attach body`);
                ids.add(stanzaId);
              }
            }
          }
        }
      }
    }),
    { numRuns: 150 },
  );
});

test('D25: the generator makes forged marks (the property above is not vacuous)', () => {
  const samples = fc.sample(shape, { numRuns: 200, seed: 7 });
  const rendered = samples.map((s) => render(s, ROOT_SCOPE, { name: 'message', attrs: { id: 'x' } }));
  const forged = rendered.filter((xml) => {
    try {
      return namesInNamespace(parseNamespaced(`<body xmlns:shared='${NS_SHARED}' ${HTTPBIND}>${xml}</body>`), NS_SHARED).length > 0;
    } catch (err) {
      return String(err).includes(`duplicate attribute: {${NS_SHARED}}`); // forged twice over
    }
  });
  assert.ok(forged.length > 40, `${forged.length} of 200 samples carry shared-namespace names`);
});
