import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyParseError, parseBody } from './body-parser.js';
import { DEFAULT_MAX_DEPTH } from './element.js';

const BODY = "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='s'>";

/** A message nested `depth` levels deep (the message itself is level 1). */
function nested(depth: number): string {
  return '<message>' + '<x>'.repeat(depth - 1) + 'deep' + '</x>'.repeat(depth - 1) + '</message>';
}

test('a payload at the depth limit is accepted, one level deeper is a BodyParseError', () => {
  const ok = parseBody(BODY + nested(10) + '</body>', 10);
  assert.equal(ok.children[0]!.name, 'message');
  assert.throws(() => parseBody(BODY + nested(11) + '</body>', 10), (err: Error) => err instanceof BodyParseError && /deeper than 10 levels/.test(err.message));
});

test(`the default depth limit is ${DEFAULT_MAX_DEPTH}; a 5,000-deep payload is refused, not built`, () => {
  assert.equal(parseBody(BODY + nested(DEFAULT_MAX_DEPTH) + '</body>').children.length, 1);
  assert.throws(() => parseBody(BODY + nested(DEFAULT_MAX_DEPTH + 1) + '</body>'), BodyParseError);
  assert.throws(() => parseBody(BODY + nested(5000) + '</body>'), BodyParseError);
  // The parser that threw is not reused: the next body parses normally.
  assert.equal(parseBody(BODY + '<presence/></body>').children[0]!.name, 'presence');
});

test('prefixes declared on <body/> are copied onto a deep payload that uses them', () => {
  const deepUse = '<message>' + '<x>'.repeat(30) + "<p:y xmlns:q='urn:q' q:a='1'/>" + '</x>'.repeat(30) + '</message>';
  const parsed = parseBody(BODY.replace('>', " xmlns:p='urn:p' xmlns:q='urn:other'>") + deepUse + '</body>');
  const message = parsed.children[0]!;
  assert.equal(message.attrs['xmlns:p'], 'urn:p');
  assert.equal(message.attrs['xmlns:q'], undefined, 'q is declared where it is used');
});
