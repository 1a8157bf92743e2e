import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element, serialize } from './element.js';

/** `depth` nested `<x>` elements with a text at the bottom, built without any parser. */
function deepTree(depth: number): Element {
  const root = new Element('x', { n: '1' });
  let el = root;
  for (let i = 2; i <= depth; i++) {
    const child = new Element('x', { n: String(i) });
    el.children.push(child);
    el = child;
  }
  el.children.push('bottom & <end>');
  return root;
}

test('a 20,000-deep element serializes and clones without overflowing the stack', () => {
  const depth = 20_000;
  const tree = deepTree(depth);
  const xml = serialize(tree);
  assert.ok(xml.startsWith("<x n='1'><x n='2'>"));
  assert.ok(xml.includes(`<x n='${depth}'>bottom &amp; &lt;end&gt;</x>`));
  assert.ok(xml.endsWith('</x></x>'));
  assert.equal(xml.split('</x>').length - 1, depth);
  const copy = tree.clone();
  assert.equal(copy.toString(), xml);
  // A deep copy: changing the copy's bottom leaves the original alone.
  let bottom = copy;
  while (bottom.elements().length > 0) bottom = bottom.elements()[0]!;
  bottom.attrs.n = 'changed';
  assert.equal(tree.toString(), xml);
});

test('serialize and clone keep order, attributes, text and empty elements', () => {
  const el = new Element('message', { to: "a'b", id: '1' }, [
    'lead & ',
    new Element('body', {}, ['hi <there>']),
    new Element('x', { xmlns: 'urn:x' }, [new Element('y', {}), 'tail', new Element('z', { a: '"' }, [new Element('w')])]),
    new Element('empty'),
    'end',
  ]);
  const expected =
    "<message to='a&apos;b' id='1'>lead &amp; <body>hi &lt;there&gt;</body>" +
    "<x xmlns='urn:x'><y/>tail<z a='&quot;'><w/></z></x><empty/>end</message>";
  assert.equal(serialize(el), expected);
  const copy = el.clone();
  assert.equal(copy.toString(), expected);
  assert.notEqual(copy.children[1], el.children[1]);
  assert.notEqual(copy.attrs, el.attrs);
});
