import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XmppStreamParser, type StreamChunk } from './stream-parser.js';

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
  "id='s1' from='example.com' version='1.0' xml:lang='en'>";
const BODY =
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>" +
  ' \n ' +
  "<message to='a@b/c' type='chat'><body>caf\u00e9 \u{1F600} &amp; &lt;ok&gt; &#65;&#x42;<![CDATA[<raw>]]></body></message>" +
  "<!-- a comment --><?pi data?>" +
  "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>";
const STREAM = HEADER + BODY + '</stream:stream>';

/** Everything a sequence of writes reported, merged. */
function collect(parser: XmppStreamParser, chunks: string[]): { header?: Record<string, string>; xml: string[]; end: boolean; error?: string } {
  const result: { header?: Record<string, string>; xml: string[]; end: boolean; error?: string } = { xml: [], end: false };
  for (const chunk of chunks) merge(result, parser.write(chunk));
  return result;
}

function merge(into: { header?: Record<string, string>; xml: string[]; end: boolean; error?: string }, out: StreamChunk): void {
  if (out.header) into.header = out.header.attrs;
  into.xml.push(...out.elements.map((e) => e.toString()));
  if (out.end) into.end = true;
  if (out.error) into.error ??= out.error.condition + ': ' + out.error.message;
}

test('parses header, top-level elements and the end of the stream', () => {
  const r = collect(new XmppStreamParser(), [STREAM]);
  assert.equal(r.error, undefined);
  assert.deepEqual({ ...r.header }, {
    xmlns: 'jabber:client',
    'xmlns:stream': 'http://etherx.jabber.org/streams',
    id: 's1',
    from: 'example.com',
    version: '1.0',
    'xml:lang': 'en',
  });
  assert.equal(r.xml.length, 3);
  assert.match(r.xml[0]!, /^<stream:features>/);
  assert.equal(r.xml[2], "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.ok(r.end);
});

test('entities and character references are decoded in text and attributes', () => {
  const parser = new XmppStreamParser();
  const out = parser.write(HEADER + "<message a='x &amp; &apos;y&apos; &#x263A;'><body>&lt;b&gt; &amp; &quot;q&quot; &#65;</body></message>");
  const msg = out.elements[0]!;
  assert.equal(msg.attrs.a, "x & 'y' \u263A");
  assert.equal(msg.getChild('body')!.text(), '<b> & "q" A');
});

test('a chunk split at every position yields the same result', () => {
  const expected = collect(new XmppStreamParser(), [STREAM]);
  for (let i = 0; i <= STREAM.length; i++) {
    const r = collect(new XmppStreamParser(), [STREAM.slice(0, i), STREAM.slice(i)]);
    assert.deepEqual(r, expected, `split at ${i}`);
  }
  // One character per write (surrogate pairs split too).
  assert.deepEqual(collect(new XmppStreamParser(), STREAM.split('')), expected);
});

test('write() returns every element completed by its chunk in one batch', () => {
  const parser = new XmppStreamParser();
  const first = parser.write(HEADER + '<a/><b>');
  assert.ok(first.header);
  assert.deepEqual(first.elements.map((e) => e.name), ['a']);
  const second = parser.write('</b><c/><d');
  assert.equal(second.header, undefined);
  assert.deepEqual(second.elements.map((e) => e.name), ['b', 'c']);
  assert.deepEqual(parser.write('/>').elements.map((e) => e.name), ['d']);
});

test('keepRaw gives each element as written', () => {
  const parser = new XmppStreamParser({ keepRaw: true });
  const raw: string[] = [];
  for (const chunk of [HEADER + "<a x='1'>t&amp;", "u</a>  <b/>\n<c>", '</c>']) raw.push(...parser.write(chunk).raw!);
  assert.deepEqual(raw, ["<a x='1'>t&amp;u</a>", '<b/>', '<c></c>']);
});

test('DOCTYPE is rejected (restricted-xml)', () => {
  const doc = "<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY x 'y'>]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
  const r = collect(new XmppStreamParser(), [doc]);
  assert.match(r.error!, /^restricted-xml/);
  assert.equal(r.header, undefined);
});

test('an undefined entity is an error (not-well-formed)', () => {
  const r = collect(new XmppStreamParser(), [HEADER + '<a/><b>&foo;</b><c/>']);
  assert.deepEqual(r.xml, ['<a/>']);
  assert.match(r.error!, /^not-well-formed/);
});

test('malformed XML is an error and later input is ignored', () => {
  const parser = new XmppStreamParser();
  const r = collect(parser, [HEADER + '<a></b>']);
  assert.match(r.error!, /^not-well-formed/);
  assert.deepEqual(parser.write('<c/>').elements, []);
});

test('a first element that is not a stream header is an error', () => {
  const r = collect(new XmppStreamParser(), ["<stream xmlns='jabber:client'>"]);
  assert.match(r.error!, /expected a stream header/);
});

test('an element larger than the limit is rejected, whole or in progress (policy-violation)', () => {
  // The header counts as the first unit, so the limit must leave room for it.
  const max = 250;
  assert.ok(HEADER.length < max);
  const big = '<message><body>' + 'x'.repeat(max) + '</body></message>';
  const whole = collect(new XmppStreamParser({ maxElementChars: max }), [HEADER + '<a/>' + big]);
  assert.deepEqual(whole.xml, ['<a/>']);
  assert.match(whole.error!, /^policy-violation/);

  const parser = new XmppStreamParser({ maxElementChars: max });
  assert.equal(parser.write(HEADER + '<message><body>').error, undefined);
  assert.equal(parser.write('x'.repeat(max / 2)).error, undefined);
  assert.equal(parser.write('x'.repeat(max / 2)).error?.condition, 'policy-violation');

  const ok = collect(new XmppStreamParser({ maxElementChars: max }), [HEADER, ...Array(20).fill('<m><b>' + 'x'.repeat(max - 20) + '</b></m>')]);
  assert.equal(ok.error, undefined);
  assert.equal(ok.xml.length, 20);
});

test('reset() starts a new stream; whitespace before the new header is ignored', () => {
  const parser = new XmppStreamParser();
  parser.write(HEADER + '<success/>');
  parser.reset();
  const out = parser.write(' \n' + HEADER.replace("id='s1'", "id='s2'") + '<stream:features/>');
  assert.equal(out.error, undefined);
  assert.equal(out.header!.attrs.id, 's2');
  assert.equal(out.elements.length, 1);
});

test('after </stream:stream> nothing more is reported', () => {
  const parser = new XmppStreamParser();
  const out = parser.write(HEADER + '<a/></stream:stream><b/>');
  assert.ok(out.end);
  assert.equal(out.error, undefined);
  assert.deepEqual(parser.write('<c/>').elements, []);
});

test('between elements the parser lets go of its state and resumes inside the stream', () => {
  // Each chunk ends at an idle point (nothing or whitespace after a complete element), where the
  // saxes instance is dropped; what follows must parse exactly as in one write.
  const chunks = [HEADER, '<a/>', ' \n', "<b x='&amp;'>t&lt;</b>\r\n", '<c>', 'x</c>', '  ', '</stream:stream>'];
  const whole = collect(new XmppStreamParser(), [chunks.join('')]);
  const split = collect(new XmppStreamParser(), chunks);
  assert.deepEqual(split, whole);
  assert.ok(split.end);
  assert.deepEqual(split.xml, ['<a/>', "<b x='&amp;'>t&lt;</b>", '<c>x</c>']);

  // Errors after an idle point are the ones saxes reports inside the root element.
  for (const tail of ['<!DOCTYPE x>', '<b>&foo;</b>', "<?xml version='1.0'?>", '<a></b>']) {
    const r = collect(new XmppStreamParser(), [HEADER, '<a/>', tail]);
    assert.deepEqual(r, collect(new XmppStreamParser(), [HEADER + '<a/>' + tail]), tail);
    assert.match(r.error!, /^not-well-formed/, tail);
  }

  // Another prefix for the stream element, and XML 1.1.
  const other = "<?xml version='1.1'?><s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>";
  const r = collect(new XmppStreamParser(), [other, '<a/>', '<b>\u0085</b>', '</s:stream>']);
  assert.deepEqual(r, collect(new XmppStreamParser(), [other + '<a/><b>\u0085</b></s:stream>']));
  assert.equal(r.error, undefined);
  assert.deepEqual(r.xml, ['<a/>', '<b>\n</b>'], 'XML 1.1 line ends (NEL) after resuming too');
  assert.ok(r.end);
});

test('streams that go idle in turn (sharing saxes instances between reads) each parse as if alone', () => {
  // An idle stream hands its saxes instance to the next stream that reads: interleaved, every
  // stream must see only its own input, with its own root name and XML version.
  const v11 = "<?xml version='1.1'?><s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>";
  const plans = [
    [HEADER, "<a n='1'/>", '<b>\u0085</b>', '<c>x</c>\n', '</stream:stream>'],
    [v11, "<a n='2'/>", '<b>\u0085</b>', '<c>y</c>', '</s:stream>'],
    [HEADER, '<a/>', '<b>&foo;</b>', '<c/>', '<d/>'],
    [HEADER, "<a n='4'>", 'text</a>', '<c/> ', '</stream:stream>'],
  ];
  const parsers = plans.map(() => new XmppStreamParser());
  const results = plans.map(() => ({ xml: [] as string[], end: false } as { header?: Record<string, string>; xml: string[]; end: boolean; error?: string }));
  for (let step = 0; step < 5; step++) {
    for (let i = 0; i < plans.length; i++) merge(results[i]!, parsers[i]!.write(plans[i]![step]!));
  }
  plans.forEach((chunks, i) => assert.deepEqual(results[i], collect(new XmppStreamParser(), [chunks.join('')]), `stream ${i}`));
  assert.deepEqual(results[0]!.xml, ["<a n='1'/>", '<b>\u0085</b>', '<c>x</c>'], 'XML 1.0: NEL is not a line end');
  assert.deepEqual(results[1]!.xml, ["<a n='2'/>", '<b>\n</b>', '<c>y</c>'], 'XML 1.1: NEL is a line end');
  assert.match(results[2]!.error!, /^not-well-formed/);
  assert.deepEqual(results[2]!.xml, ['<a/>']);
  assert.ok(results[0]!.end && results[1]!.end && results[3]!.end);
});

test('an idle stream keeps no element and no input text', () => {
  const parser = new XmppStreamParser();
  parser.write(HEADER + "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\n");
  const fields = Object.values(parser as unknown as Record<string, unknown>);
  assert.ok(fields.every((v) => v === undefined || typeof v !== 'object' || (Array.isArray(v) && v.length === 0)), 'no parser, chunk or element kept');
  assert.ok(fields.every((v) => typeof v !== 'string' || v.length < 20), 'no input text kept');
});

test('a closing tag at the stream level other than </stream:stream> is not-well-formed, not the end', () => {
  const parser = new XmppStreamParser();
  const r = collect(parser, [HEADER + '<a/>', '</b>']);
  assert.deepEqual(r.xml, ['<a/>']);
  assert.equal(r.end, false);
  assert.match(r.error!, /^not-well-formed: closing tag does not match <stream:stream>/);
  assert.deepEqual(parser.write('<c/>').elements, []);
});

test('</stream:stream> ends the stream whole, split anywhere, with whitespace in the tag, or with garbage after it', () => {
  for (const tail of ['</stream:stream>', '</stream:stream >', '</stream:stream>junk', '</stream:stream><b/>', '</stream:stream>\n']) {
    const whole = HEADER + '<a/>' + tail;
    for (let i = HEADER.length; i <= whole.length; i++) {
      const r = collect(new XmppStreamParser(), [whole.slice(0, i), whole.slice(i)]);
      assert.deepEqual(r, { header: r.header, xml: ['<a/>'], end: true }, `${JSON.stringify(tail)} split at ${i}`);
    }
  }
});

/** A top-level element nested `depth` levels deep (the element itself is level 1). */
function nested(name: string, depth: number, attrs = ''): string {
  return `<${name}${attrs}>` + '<x>'.repeat(depth - 1) + 'deep' + '</x>'.repeat(depth - 1) + `</${name}>`;
}

test('an element nested deeper than maxDepth is dropped (name and attributes reported), split anywhere; the stream goes on', () => {
  const deep = nested('message', 9, " from='mallory@evil.example/x' id='m1' type='chat'");
  const input = HEADER + nested('message', 8, " id='ok1'") + deep + "<message id='ok2'/>";
  for (let i = 0; i <= input.length; i += 7) {
    const parser = new XmppStreamParser({ maxDepth: 8 });
    const chunks = [parser.write(input.slice(0, i)), parser.write(input.slice(i))];
    const elements = chunks.flatMap((c) => c.elements.map((e) => e.attrs.id));
    const dropped = chunks.flatMap((c) => c.dropped ?? []);
    assert.deepEqual(elements, ['ok1', 'ok2'], `split at ${i}`);
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.toString(), "<message from='mallory@evil.example/x' id='m1' type='chat'/>");
    assert.ok(chunks.every((c) => c.error === undefined));
  }
});

test('the default maxDepth drops a 5,000-deep message that is below the size limit', () => {
  const parser = new XmppStreamParser();
  const out = parser.write(HEADER + nested('message', 5000) + "<presence id='after'/>");
  assert.equal(out.error, undefined);
  assert.deepEqual(out.elements.map((e) => e.attrs.id), ['after']);
  assert.equal(out.dropped?.[0]?.name, 'message');
  assert.equal(parser.write(nested('message', 64, " id='at-limit'")).elements[0]?.attrs.id, 'at-limit');
});

test('X-24 X-25: after reset() (a restart), a <stream:error/> and </stream:stream> in place of the new header end the old stream', () => {
  const error = "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Stream restart before authentication</text></stream:error>";
  const input = error + '</stream:stream>';
  for (let i = 0; i <= input.length; i++) {
    const parser = new XmppStreamParser();
    parser.write(HEADER);
    parser.reset();
    const r = collect(parser, [' ', input.slice(0, i), input.slice(i)]);
    assert.equal(r.error, undefined, `split at ${i}`);
    assert.equal(r.header, undefined);
    assert.deepEqual(r.xml, [error], `split at ${i}`);
    assert.equal(r.end, true);
  }
  // A bare </stream:stream> where the new header was expected is the end too.
  const parser = new XmppStreamParser();
  parser.write(HEADER);
  parser.reset();
  assert.deepEqual(collect(parser, ['</stream:', 'stream>']), { xml: [], end: true });
});

test('a <stream:error/> without any header is still not a stream (only after a restart)', () => {
  const r = collect(new XmppStreamParser(), ["<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"]);
  assert.match(r.error ?? '', /expected a stream header/);
  const parser = new XmppStreamParser();
  parser.write(HEADER);
  parser.reset();
  assert.match(collect(parser, ["<message/>"]).error ?? '', /expected a stream header/);
});
