import { parseBody, type ParsedBody } from '../../src/xml/body-parser.js';
import { NS_HTTPBIND, NS_XBOSH } from '../../src/protocol/namespaces.js';

export const HTTPBIND_NS = `xmlns='${NS_HTTPBIND}'`;
export const XBOSH_NS = `xmlns:xmpp='${NS_XBOSH}'`;

/** One HTTP answer of the CM, parsed. */
export interface BoshAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: ParsedBody;
  attrs: Record<string, string>;
}

/** POSTs one BOSH body and parses the answer. */
export async function postBody(url: string, body: string, headers: Record<string, string> = {}): Promise<BoshAnswer> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/xml; charset=utf-8', ...headers } });
  const text = await res.text();
  const parsed = text ? parseBody(text) : { attrs: {}, prefixes: {}, children: [] };
  return { status: res.status, headers: res.headers, text, body: parsed, attrs: { ...parsed.attrs } };
}

/**
 * A bare BOSH client for integration tests: the test decides every attribute and payload,
 * the client only numbers the requests.
 */
export class RawBoshClient {
  sid = '';
  rid = 1_000_000 + Math.floor(Math.random() * 1_000_000);
  creation: BoshAnswer | undefined;

  constructor(readonly url: string) {}

  async create(attrs = "to='localhost' wait='10' hold='1' ver='1.11' xmpp:version='1.0'"): Promise<BoshAnswer> {
    const answer = await postBody(this.url, `<body rid='${this.rid}' ${attrs} ${XBOSH_NS} ${HTTPBIND_NS}/>`);
    this.creation = answer;
    this.sid = answer.attrs.sid ?? '';
    return answer;
  }

  /** Sends the next request; resolves when the CM answers it (it may be held). */
  send(payload = '', attrs = ''): Promise<BoshAnswer> {
    this.rid += 1;
    return postBody(this.url, `<body rid='${this.rid}' sid='${this.sid}' ${attrs} ${XBOSH_NS} ${HTTPBIND_NS}>${payload}</body>`);
  }

  /** SASL PLAIN, restart and bind; returns the bound JID. */
  async login(user = 'alice', password = 'pw', resource = 'r1'): Promise<string> {
    const token = Buffer.from(`\0${user}\0${password}`).toString('base64');
    const auth = await this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`);
    if (auth.body.children[0]?.name !== 'success') throw new Error('SASL failed: ' + auth.text);
    const restart = await this.send('', "xmpp:restart='true' to='localhost'");
    if (restart.body.children[0]?.name !== 'stream:features') throw new Error('no features after restart: ' + restart.text);
    const bind = await this.send(
      `<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
    );
    const jid = bind.body.children[0]?.getChild('bind')?.getChild('jid')?.text();
    if (!jid) throw new Error('bind failed: ' + bind.text);
    return jid;
  }
}

/** A POST through node:http, bytes as they came (no automatic decompression, unlike fetch). */
export function rawPost(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; bytes: Buffer }> {
  return import('node:http').then(
    (http) =>
      new Promise((resolve, reject) => {
        const req = http.request(url, { method: 'POST', headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      }),
  );
}

/**
 * A POST on its own TCP connection that the test can abandon, as a browser cancels a held request
 * on a page reload: close() destroys the connection. `answer` resolves with the response text, or
 * undefined when none came.
 */
export function cancellablePost(url: string, body: string): { close(): void; answer: Promise<string | undefined> } {
  let closed = false;
  let close = (): void => {
    closed = true;
  };
  const answer = import('node:http').then(
    (http) =>
      new Promise<string | undefined>((resolve) => {
        const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'text/xml; charset=utf-8' } });
        close = () => req.destroy();
        if (closed) req.destroy();
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
          res.on('error', () => resolve(undefined));
        });
        req.on('error', () => resolve(undefined));
        req.end(body);
      }),
  );
  return { close: () => close(), answer };
}
