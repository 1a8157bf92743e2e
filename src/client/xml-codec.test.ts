import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOMParser } from '@xmldom/xmldom';
import { DomXmlCodec, XmlParseError, type DomParserLike, type XmlCodec } from './xml-codec.js';
import { defaultXmlCodec } from './default-codec.js';
import { SaxesXmlCodec } from './saxes-codec.js';
import { child, sharedAttr } from './xml.js';
import { NS } from './namespaces.js';

const RESPONSE =
  "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:stream='http://etherx.jabber.org/streams' " +
  "xmlns:sb='urn:xmpp:tmp:shared-bosh:0' sb:seq='7' sid='s'>" +
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>" +
  "<message from='a@b/c' sb:echo='true'><body>x &amp; y</body></message>" +
  '</body>';

const codecs: [string, XmlCodec][] = [
  ['saxes', new SaxesXmlCodec()],
  ['DOMParser (@xmldom/xmldom)', new DomXmlCodec(DOMParser as unknown as new () => DomParserLike)],
];

for (const [name, codec] of codecs) {
  test(`${name}: children of <body/> become self-contained; shared attributes found by namespace`, () => {
    const body = codec.parseBody(RESPONSE);
    assert.equal(sharedAttr(body, 'seq'), '7');
    const [features, message] = body.elements();
    assert.equal(features!.attrs['xmlns:stream'], NS.STREAM);
    assert.ok(child(features!, 'mechanisms', NS.SASL));
    assert.equal(message!.attrs.xmlns, NS.CLIENT);
    assert.equal(sharedAttr(message!, 'echo'), 'true');
    assert.equal(message!.toString(), "<message xmlns='jabber:client' from='a@b/c' sb:echo='true' xmlns:sb='urn:xmpp:tmp:shared-bosh:0'><body>x &amp; y</body></message>");
  });

  test(`${name}: malformed XML, a DTD and a non-BOSH root are refused`, () => {
    assert.throws(() => codec.parseBody('<body xmlns="http://jabber.org/protocol/httpbind">'), XmlParseError);
    assert.throws(() => codec.parseBody('<!DOCTYPE body [<!ENTITY x "y">]><body xmlns="http://jabber.org/protocol/httpbind"/>'), XmlParseError);
    assert.throws(() => codec.parseBody('<html/>'), XmlParseError);
  });
}

test('defaultXmlCodec picks saxes under Node', async () => {
  assert.ok((await defaultXmlCodec()) instanceof SaxesXmlCodec);
});
