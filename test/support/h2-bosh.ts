import assert from 'node:assert/strict';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { parseBody, type ParsedBody } from '../../src/xml/body-parser.js';
import { HTTPBIND_NS, XBOSH_NS } from './bosh-http.js';

/** One BOSH answer over HTTP/2, parsed. */
export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: ParsedBody;
  attrs: Record<string, string>;
}

/** POSTs one BOSH body on its own stream of `session` (what a browser tab does) and parses the answer. */
export function h2Post(session: ClientHttp2Session, path: string, body: string, headers: Record<string, string> = {}): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'text/xml; charset=utf-8', ...headers });
    let responseHeaders: IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => {
      const parsed = parseBody(text);
      resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, text, body: parsed, attrs: { ...parsed.attrs } });
    });
    stream.on('error', reject);
    stream.end(body);
  });
}

/** RawBoshClient's counterpart over a shared HTTP/2 session: the test decides every attribute. */
export class H2BoshClient {
  sid = '';
  rid = 1_000_000 + Math.floor(Math.random() * 1_000_000);

  constructor(
    readonly session: ClientHttp2Session,
    readonly path = '/http-bind',
  ) {}

  async create(attrs = "to='localhost' wait='10' hold='1' ver='1.11' xmpp:version='1.0'"): Promise<H2Answer> {
    const answer = await h2Post(this.session, this.path, `<body rid='${this.rid}' ${attrs} ${XBOSH_NS} ${HTTPBIND_NS}/>`);
    this.sid = answer.attrs.sid ?? '';
    return answer;
  }

  /** The next request's body (the rid moves on). */
  body(payload = '', attrs = ''): string {
    this.rid += 1;
    return `<body rid='${this.rid}' sid='${this.sid}' ${attrs} ${XBOSH_NS} ${HTTPBIND_NS}>${payload}</body>`;
  }

  send(payload = '', attrs = ''): Promise<H2Answer> {
    return h2Post(this.session, this.path, this.body(payload, attrs));
  }

  /** SASL PLAIN, restart and bind (the scripted XMPP server accepts any password); returns the bound JID. */
  async login(user: string, resource: string): Promise<string> {
    const token = Buffer.from(`\0${user}\0pw`).toString('base64');
    const auth = await this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`);
    assert.equal(auth.body.children[0]?.name, 'success', auth.text);
    const restart = await this.send('', "xmpp:restart='true' to='localhost'");
    assert.equal(restart.body.children[0]?.name, 'stream:features', restart.text);
    const bind = await this.send(
      `<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
    );
    const jid = bind.body.children[0]?.getChild('bind')?.getChild('jid')?.text();
    assert.ok(jid, bind.text);
    return jid;
  }
}
