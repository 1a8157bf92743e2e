import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSharedHarness, KEY, SHARED_NS } from '../../test/support/shared-harness.js';
import { HTTPBIND, type FakeExchange } from '../../test/support/bosh-harness.js';
import { parseBody } from '../xml/body-parser.js';

/**
 * D10, D14b as a property: whatever the interleaving of inbound stanzas, members' stanzas,
 * rid retransmissions, members joining, leaving and reloading (attach with shared:since),
 * every member sees exactly the link's order minus its own stanzas: no loss, no duplicate.
 */

type Action =
  | { kind: 'inbound' }
  | { kind: 'outbound'; member: number }
  | { kind: 'retransmit'; member: number; back: number }
  | { kind: 'join' }
  | { kind: 'leave'; member: number }
  | { kind: 'reload'; member: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'inbound' as const }) },
  { weight: 4, arbitrary: fc.nat(7).map((member) => ({ kind: 'outbound' as const, member })) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(7), fc.nat(2)).map(([member, back]) => ({ kind: 'retransmit' as const, member, back })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'join' as const }) },
  { weight: 1, arbitrary: fc.nat(7).map((member) => ({ kind: 'leave' as const, member })) },
  { weight: 1, arbitrary: fc.nat(7).map((member) => ({ kind: 'reload' as const, member })) },
);

interface ModelEvent {
  id: string;
  origin: Member | undefined;
}

interface Member {
  sid: string;
  rid: number;
  /** The bodies it sent, by rid, to resend byte for byte (C-09). */
  bodies: Map<number, string>;
  exchanges: Map<number, FakeExchange[]>;
  /** Index in the link's event list from which it sees live events. */
  from: number;
  /** Events it must get first as replay (reload with shared:since). */
  replayFrom: number | undefined;
  /** Index at which it stopped receiving (left), or undefined while live. */
  until: number | undefined;
  polling: boolean;
  /** What it had received when it went away (it reads nothing after). */
  final: string[] | undefined;
}

/** The message ids a member received, by rid, each rid's answer counted once. */
function receivedBy(m: Member): string[] {
  const received: string[] = [];
  for (const rid of [...m.exchanges.keys()].sort((x, y) => x - y)) {
    const bodies = m.exchanges.get(rid)!.filter((ex) => ex.answered).map((ex) => ex.replies[0]!.body).filter((b) => !b.includes("type='error'"));
    // B-88: every answer to one rid is the same body.
    assert.equal(new Set(bodies).size <= 1, true, `rid ${rid} answered differently`);
    if (bodies[0]) received.push(...parseBody(bodies[0]).children.filter((c) => c.name === 'message' && c.attrs.id !== 'probe').map((c) => c.attrs.id!));
  }
  return received;
}

test('D10 D14b: every member sees the link order minus its own stanzas, exactly once', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), async (actions) => {
      const h = createSharedHarness({ maxMembers: 16 });
      const creator = await h.creator();
      // A probe event fixes the mapping from link event numbers to indexes in `events`.
      creator.up.server("<message from='f@example.com/x' id='probe'/>");
      const base = Number(creator.held.attrs['shared:seq']);
      const events: ModelEvent[] = [];
      const members: Member[] = [];
      let counter = 0;

      const send = (m: Member, payload: string, extra = ''): FakeExchange => {
        m.rid += 1;
        const body = `<body rid='${m.rid}' sid='${m.sid}' ${extra} ${HTTPBIND}>${payload}</body>`;
        m.bodies.set(m.rid, body);
        return record(m, m.rid, h.post(body));
      };
      const record = (m: Member, rid: number, ex: FakeExchange): FakeExchange => {
        const list = m.exchanges.get(rid) ?? [];
        list.push(ex);
        m.exchanges.set(rid, list);
        return ex;
      };
      const creatorMember: Member = {
        sid: creator.sid,
        rid: creator.rid,
        bodies: new Map(),
        exchanges: new Map(),
        from: 0,
        replayFrom: undefined,
        until: undefined,
        polling: true,
        final: undefined,
      };
      members.push(creatorMember);
      const attach = async (since?: number): Promise<Member> => {
        const rid = 1_000_000 + members.length * 10_000;
        const sinceAttr = since === undefined ? '' : ` shared:since='${since}'`;
        const ex = h.post(`<body rid='${rid}' to='example.com' wait='60' hold='1' ver='1.11' shared:key='${KEY}' ${SHARED_NS}${sinceAttr} ${HTTPBIND}/>`);
        assert.equal(ex.attrs['shared:result'], 'attached');
        const m: Member = {
          sid: ex.attrs.sid!,
          rid,
          bodies: new Map(),
          exchanges: new Map([[rid, [ex]]]),
          from: events.length,
          replayFrom: since === undefined ? undefined : since - base,
          until: undefined,
          polling: true,
          final: undefined,
        };
        members.push(m);
        return m;
      };
      const live = () => members.filter((m) => m.polling);
      const pick = (i: number) => {
        const l = live();
        return l[i % l.length]!;
      };
      /** Every polling member keeps one request held, as a BOSH client does. */
      const keepPolling = () => {
        for (const m of live()) {
          const open = [...m.exchanges.values()].flat().some((ex) => !ex.answered);
          if (!open) send(m, '');
        }
      };
      keepPolling();

      for (const a of actions) {
        switch (a.kind) {
          case 'inbound': {
            const id = `in${++counter}`;
            events.push({ id, origin: undefined });
            creator.up.server(`<message from='f@example.com/x' id='${id}'/>`);
            break;
          }
          case 'outbound': {
            const m = pick(a.member);
            const id = `out${++counter}`;
            events.push({ id, origin: m });
            send(m, `<message to='f@example.com' id='${id}' xmlns='jabber:client'/>`);
            break;
          }
          case 'retransmit': {
            const m = pick(a.member);
            // The latest request (likely held) or an earlier one (answered, from the cache).
            const rid = m.rid - a.back;
            const body = m.bodies.get(rid);
            if (body) record(m, rid, h.post(body));
            break;
          }
          case 'join':
            if (members.length < 12) await attach();
            break;
          case 'leave': {
            if (live().length < 2) break;
            const m = pick(a.member);
            send(m, '', "type='terminate'");
            m.polling = false;
            m.until = events.length;
            m.final = receivedBy(m);
            break;
          }
          case 'reload': {
            if (members.length >= 12) break;
            const m = pick(a.member);
            // The tab goes away without a word; its replacement attaches with what it saw last.
            m.polling = false;
            m.until = events.length;
            m.final = receivedBy(m);
            const seen = [...m.exchanges.values()].flat().filter((ex) => ex.answered).map((ex) => Number(parseBody(ex.replies[0]!.body).attrs['shared:seq'] ?? 0));
            await attach(Math.max(base, ...seen));
            break;
          }
        }
        keepPolling();
      }

      for (const m of members) {
        const received = m.final ?? receivedBy(m);
        const end = m.until ?? events.length;
        const debug = () => JSON.stringify({ actions, m: members.indexOf(m), received, from: m.from, replayFrom: m.replayFrom, until: m.until, events: events.map((e) => e.id + (e.origin ? members.indexOf(e.origin) : '')) });
        const expected = [
          ...(m.replayFrom === undefined ? [] : events.slice(m.replayFrom, m.from).map((e) => e.id)),
          ...events.slice(m.from, end).filter((e) => e.origin !== m).map((e) => e.id),
        ];
        assert.deepEqual(received, expected, debug());
      }
    }),
    { numRuns: 150 },
  );
});
