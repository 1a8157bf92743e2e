/**
 * fast-check arbitraries for fuzz cases (test/fuzz/cases.ts). They lean towards what broke
 * before or is likely to: deep nesting, Shared BOSH marks under any prefix, entities and
 * DOCTYPEs, characters XML forbids, rid/sid/key games, and the recorded corpus mutated.
 */
import fc from 'fast-check';
import { NS_SHARED } from '../../src/protocol/namespaces.js';
import type { Action, FuzzCase, Gen, Mutation, Tree } from './cases.js';

const XMPP_NAMESPACES = ['jabber:client', 'urn:xmpp:ping', 'jabber:iq:roster', 'urn:ietf:params:xml:ns:xmpp-stanzas', 'http://jabber.org/protocol/httpbind', NS_SHARED, 'urn:xmpp:csi:0', 'urn:x:fuzz'];

/** Text: printable, any Unicode, or characters XML 1.0 forbids. */
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\uFFFE', '\uD800', '\uDFFF', '\u0085\u2028', ']]>', '\r\n\t', '\uFFFD', '\u{1F600}') },
);

const localName = fc.constantFrom('body', 'x', 'query', 'a', 'item', 'thread', 'subject', 'error', 'delay', 'features', 'echo', 'replay', 'stream');
const prefix = fc.constantFrom('shared', 's', 'ns0', 'stream', 'p', 'xmpp');

const attribute: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(fc.constantFrom('id', 'type', 'to', 'from', 'xml:lang', 'xmlns', 'seq', 'echo', 'replay'), text),
  fc.tuple(fc.constantFrom('type'), fc.constantFrom('chat', 'groupchat', 'error', 'result', 'get', 'set', 'unavailable', 'subscribe', 'normal', 'headline')),
  fc.tuple(fc.constantFrom('xmlns'), fc.constantFrom(...XMPP_NAMESPACES)),
);

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.record({
    name: localName,
    prefix: fc.option(fc.record({ p: prefix, uri: fc.constantFrom(...XMPP_NAMESPACES) }), { nil: undefined }),
    attrs: fc.array(attribute, { maxLength: 4 }),
    children: fc.array(fc.oneof({ weight: 2, arbitrary: text }, { weight: 1, arbitrary: tie('node') }), { maxLength: 3, depthIdentifier: 'tree' }),
  }).map((t): Tree => (t.prefix ? { ...t, name: `${t.prefix.p}:${t.name}` } : { ...t, prefix: undefined })),
})).node;

/** One of these templates (test/fuzz/cases.ts fills in the placeholders). */
const literals = (...templates: string[]): fc.Arbitrary<Gen> => fc.record({ lit: fc.constantFrom(...templates) });

const stanzaName = fc.constantFrom('message', 'iq', 'presence') as fc.Arbitrary<'message' | 'iq' | 'presence'>;

/** Shared BOSH marks, under the real namespace or another one, one or two of them. */
const forge: fc.Arbitrary<Gen> = fc.record({
  forge: fc.array(
    fc.record({
      prefix: prefix,
      mark: fc.constantFrom('echo', 'replay', 'seq'),
      uri: fc.oneof({ weight: 4, arbitrary: fc.constant(NS_SHARED) }, { weight: 1, arbitrary: fc.constantFrom('urn:x:other', 'jabber:client') }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  stanza: stanzaName,
  onChild: fc.boolean(),
});

const deep: fc.Arbitrary<Gen> = fc.record({
  deep: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1000, max: 20_000 })),
  stanza: fc.constantFrom('message', 'iq', 'presence', 'bare') as fc.Arbitrary<'message' | 'iq' | 'presence' | 'bare'>,
  child: fc.constantFrom('', 'x'),
});

/** Snippets worth inserting into a recorded text. */
const snippet = fc.oneof(
  fc.constantFrom(
    '<', '>', '&', "'", '"', '</body>', '<a>', '</a>', '<a/>', '&amp;', '&#0;', '&#xD800;', '&#x1F600;', '&lol;', ']]>', '<![CDATA[x]]>',
    '<?pi x?>', '<!-- c -->', '<!DOCTYPE body [<!ENTITY e "eeeeeeeeee">]>', '\u0000', '\uFFFE', '\uD800',
    ` xmlns:shared='${NS_SHARED}' shared:echo='true'`, ` xmlns:s='${NS_SHARED}' s:replay='true'`,
    " rid='0'", " rid='-1'", " rid='{rid+100000}'", " rid='{rid-1}'", " sid='{sid}'", " sid='x'", " type='terminate'",
    " xmpp:restart='true'", " shared:key='{key}'", " shared:since='0'", " shared:since='99999999999999999999'",
    " pause='9999'", " wait='0'", " hold='100'", " key='k'", " newkey='k'", ' xmlns=\'\'', " xml:lang='\u0000'",
    "<message to='{jid}' id='{tag}-o{n}'><body>x</body></message>", "<iq type='get' id='{tag}-o{n}'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>", '<starttls xmlns=\'urn:ietf:params:xml:ns:xmpp-tls\'/>',
    "<inactive xmlns='urn:xmpp:csi:0'/>",
  ),
  fc.string({ maxLength: 12 }),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: snippet }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 80 }), times: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ op: fc.constant('nest' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), depth: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1000, max: 20_000 })) }),
  fc.record({
    op: fc.constant('attr' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    name: fc.constantFrom('shared:echo', 's:echo', 'shared:replay', 'xmlns:shared', 'xmlns:s', 'xmlns', 'id', 'to', 'from', 'type', 'rid', 'sid', 'xml:lang', 'xmpp:restart', 'xmlns:stream'),
    value: fc.oneof(fc.constantFrom('true', NS_SHARED, '{sid}', '{rid}', '{jid}', '', 'jabber:client'), fc.string({ maxLength: 10 })),
  }),
);

const corpusGen = (kind: 'bodies' | 'stanzas'): fc.Arbitrary<Gen> =>
  fc.record({ corpus: fc.constant(kind), index: fc.nat(1000), mutations: fc.array(mutation, { minLength: 0, maxLength: 4 }) });

/** What the upstream writes to a link. */
const inboundGen: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: forge },
  { weight: 2, arbitrary: deep },
  { weight: 3, arbitrary: fc.record({ tree, stanza: stanzaName }) },
  { weight: 4, arbitrary: corpusGen('stanzas') },
  {
    weight: 1,
    arbitrary: literals(
      "<iq type='result' id='{tag}-i{n}' to='{jid}'/>",
      "<iq type='get' id='{tag}-i{n}' to='{jid}' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
      "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
      "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
      '</stream:stream>',
      "<?xml version='1.0'?>",
      '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
      "<message id='{tag}-i{n}' to='{jid}'>&undefined;</message>",
      "<message id='{tag}-i{n}' to='{jid}'><!-- hi --><?pi?></message>",
      "<x:message xmlns:x='jabber:client' id='{tag}-i{n}' to='{jid}'/>",
      "<message xmlns='urn:x:other' id='{tag}-i{n}' to='{jid}'/>",
      "<presence id='{tag}-i{n}' from='eve@evil.example/{n}' xmlns:shared='urn:x:other' shared:replay='true'/>",
    ),
  },
);

/** What a member puts in a request. */
const payloadGen: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: forge },
  { weight: 1, arbitrary: deep },
  { weight: 3, arbitrary: fc.record({ tree, stanza: stanzaName }) },
  {
    weight: 1,
    arbitrary: literals(
      "<iq type='get' id='{tag}-o{n}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
      "<iq type='result' id='{tag}-i1' to='eve@evil.example/x'/>",
      "<inactive xmlns='urn:xmpp:csi:0'/>",
      "<active xmlns='urn:xmpp:csi:0'/>",
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>",
      "<presence id='{tag}-o{n}'/>",
      "<presence type='unavailable' id='{tag}-o{n}'/>",
      "<message id='{tag}-o{n}' to='eve@evil.example' xmlns:stream='http://etherx.jabber.org/streams'><stream:error/></message>",
    ),
  },
);

/** Raw bodies on a member's session. */
const bodyGen: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 4, arbitrary: corpusGen('bodies') },
  {
    weight: 2,
    arbitrary: literals(
      "<body rid='{rid}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid-1}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid+3}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid+99999}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='0' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' rid='{rid}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' sid='{sid}' pause='5' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' sid='{sid}' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' sid='{sid}' type='terminate' shared:all='true' xmlns:shared='urn:xmpp:tmp:shared-bosh:0' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<!DOCTYPE body [<!ENTITY a 'aaaaaaaaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]><body rid='{rid}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'>&b;</body>",
      "<body rid='{rid}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'><message>&b;</message></body>",
      "<body rid='{rid}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind' xmlns:p='urn:x:p'><p:x id='{tag}-o{n}'/><message id='{tag}-o{n}' p:a='1'/></body>",
      "<b:body rid='{rid}' sid='{sid}' xmlns:b='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'>text</body>",
      '\uFEFF<body xmlns="http://jabber.org/protocol/httpbind" rid="{rid}" sid="{sid}"/>',
    ),
  },
  { weight: 1, arbitrary: fc.record({ lit: fc.string({ unit: 'binary', maxLength: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ big: fc.oneof(fc.integer({ min: 200_000, max: 270_000 }), fc.integer({ min: 1_000_000, max: 4_000_000 })) }) },
);

/** Raw bodies without a session of the case (creations, attaches with the link's key, foreign sids). */
const creationGen: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 2, arbitrary: corpusGen('bodies') },
  {
    weight: 2,
    arbitrary: literals(
      "<body rid='{rid}' to='localhost' wait='1' hold='1' ver='1.11' shared:key='{key}' xmlns:shared='urn:xmpp:tmp:shared-bosh:0' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' to='localhost' wait='1' hold='1' ver='1.11' shared:key='{key}' shared:since='0' xmlns:shared='urn:xmpp:tmp:shared-bosh:0' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' to='localhost' wait='1' hold='1' shared:key='' xmlns:shared='urn:xmpp:tmp:shared-bosh:0' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' to='localhost' wait='1' hold='1' s:key='{key}' shared:key='x{key}' xmlns:s='urn:xmpp:tmp:shared-bosh:0' xmlns:shared='urn:xmpp:tmp:shared-bosh:0' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='0' to='localhost' wait='1' hold='1' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='9007199254740993' to='localhost' wait='1' hold='1' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' to='localhost' wait='-1' hold='-1' ver='0.0' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' to='nowhere.invalid' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' to='localhost' route='xmpp:127.0.0.1:1' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' sid='{sid}x' xmlns='http://jabber.org/protocol/httpbind'/>",
      "<body rid='{rid}' sid='' xmlns='http://jabber.org/protocol/httpbind'/>",
    ),
  },
);

const member = fc.integer({ min: 0, max: 1 });

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ do: fc.constant('inbound' as const), xml: inboundGen }) },
  { weight: 3, arbitrary: fc.record({ do: fc.constant('send' as const), member, payload: payloadGen }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('post' as const), member, body: bodyGen, coding: fc.constantFrom('identity', 'identity', 'gzip', 'deflate') as fc.Arbitrary<'identity' | 'gzip' | 'deflate'> }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('create' as const), body: creationGen }) },
);

export const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
  shared: fc.boolean(),
  actions: fc.array(actionArb, { minLength: 1, maxLength: 4 }),
});
