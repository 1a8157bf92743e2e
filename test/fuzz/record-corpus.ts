/**
 * Records test/fuzz/corpus.json from a real session: two users log in through the CM to a
 * throwaway Prosody, exchange presence, roster, pings, disco and chat messages, then terminate.
 * The request bodies the clients posted and the elements Prosody wrote to the CM (read by a
 * TCP proxy in between: no STARTTLS, so the bytes are plain) are stored, with the session ids,
 * rids and full JIDs replaced by the placeholders test/fuzz/cases.ts fills in.
 *
 *   npm run build --silent && node dist/test/fuzz/record-corpus.js   # rewrites test/fuzz/corpus.json
 */
import { writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { XmppStreamParser } from '../../src/xml/stream-parser.js';
import { RawBoshClient } from '../support/bosh-http.js';
import { startProsody } from '../support/prosody.js';
import type { Corpus } from './cases.js';

const OUT = fileURLToPath(new URL('../../../test/fuzz/corpus.json', import.meta.url));

const prosody = await startProsody({ requireEncryption: false, extraConfig: 'allow_unencrypted_plain_auth = true' });
const fromServer: string[] = [];
const proxy = createServer((client) => {
  const upstream = connect(prosody.c2sPort, prosody.host);
  const parser = new XmppStreamParser({ keepRaw: true });
  client.pipe(upstream);
  upstream.on('data', (data: Buffer) => {
    const text = data.toString('utf8');
    // SASL success and TLS restart the stream: a new header starts a new parse.
    if (text.includes('<?xml') || /<stream:stream\s/.test(text)) parser.reset();
    const chunk = parser.write(text);
    fromServer.push(...(chunk.raw ?? []));
    client.write(data);
  });
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
const proxyPort = (proxy.address() as AddressInfo).port;

const config: CmConfig = {
  ...DEFAULT_CONFIG,
  http: { ...DEFAULT_CONFIG.http, port: 0 },
  domains: { localhost: { host: '127.0.0.1', port: proxyPort, tls: 'off', insecure: false } },
  bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0 },
};
const cm = createConnectionManager(config, { logger: createLogger('silent') });
const { url } = await cm.start();

const requests: string[] = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  if (typeof init?.body === 'string') requests.push(init.body);
  return realFetch(input, init);
};

try {
  const a = new RawBoshClient(url);
  const b = new RawBoshClient(url);
  await a.create();
  await b.create();
  const aJid = await a.login('alice', 'alice-pw', 'desk');
  const bJid = await b.login('bob', 'bob-pw', 'phone');
  await a.send("<iq type='set' id='sess1' xmlns='jabber:client'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
  await a.send("<iq type='get' id='roster1' xmlns='jabber:client'><query xmlns='jabber:iq:roster'/></iq>");
  await b.send("<iq type='get' id='roster1' xmlns='jabber:client'><query xmlns='jabber:iq:roster'/></iq>");
  await a.send(`<presence xmlns='jabber:client'><show>chat</show><status>hi &amp; welcome</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='abc='/></presence>`);
  await b.send(`<presence xmlns='jabber:client'/>`);
  await a.send(`<iq type='get' id='disco1' to='localhost' xmlns='jabber:client'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
  await a.send(`<iq type='get' id='ver1' to='localhost' xmlns='jabber:client'><query xmlns='jabber:iq:version'/></iq>`);
  await a.send(`<iq type='get' id='ping1' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const waiting = b.send();
  await a.send(`<message to='${bJid}' type='chat' id='m1' xmlns='jabber:client'><body>hello &lt;b&gt; \u00e9\u{1F600}</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`);
  await waiting;
  await b.send(`<message to='${aJid}' type='chat' id='m2' xmlns='jabber:client'><body>back</body><thread>t1</thread></message>`);
  await a.send();
  await a.send(`<message to='nobody@localhost' type='chat' id='m3' xmlns='jabber:client'><body>offline</body></message>`);
  await a.send(`<iq type='get' id='bad1' to='${bJid}' xmlns='jabber:client'><query xmlns='urn:x:unknown'/></iq>`);
  await new Promise((r) => setTimeout(r, 300));
  await b.send();
  await a.send();
  await a.send("<presence type='unavailable' xmlns='jabber:client'/>", "type='terminate'");
  await b.send('', "type='terminate'");

  const jids = [aJid, bJid];
  const template = (s: string): string => {
    let out = s;
    for (const sid of [a.sid, b.sid]) out = out.split(sid).join('{sid}');
    out = out.replace(/rid='\d+'/, "rid='{rid}'");
    for (const jid of jids) out = out.split(jid).join('{jid}');
    return out;
  };
  const corpus: Corpus = {
    bodies: [...new Set(requests.map(template))],
    stanzas: [...new Set(fromServer.map(template))],
  };
  writeFileSync(OUT, JSON.stringify(corpus, null, 1) + '\n');
  console.log(`recorded ${corpus.bodies.length} bodies and ${corpus.stanzas.length} stanzas into ${OUT}`);
} finally {
  globalThis.fetch = realFetch;
  await cm.stop();
  proxy.close();
  await prosody.stop();
}
