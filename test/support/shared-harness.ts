import { SessionManager } from '../../src/bosh/session-manager.js';
import { LinkRegistry } from '../../src/shared/link-registry.js';
import { Metrics } from '../../src/metrics.js';
import { createMemoryLogger } from '../../src/log.js';
import { Element } from '../../src/xml/element.js';
import { parseBody } from '../../src/xml/body-parser.js';
import type { StreamInfo, Upstream, UpstreamOptions, UpstreamSink } from '../../src/xmpp/types.js';
import { FakeClock } from './fake-clock.js';
import { FakeExchange, HTTPBIND, TEST_LIMITS } from './bosh-harness.js';
import { NS_SHARED } from '../../src/protocol/namespaces.js';

export const KEY = '3c1d69981b65bfbd641dcb64c82bb613';
export const SHARED_NS = `xmlns:shared='${NS_SHARED}'`;

/** An upstream stream played by the test: records what the CM writes, injects what the server sends. */
export class FakeUpstream implements Upstream {
  written: string[] = [];
  restarts = 0;
  closed = false;
  /** The link reported a bound resource (markBound()). */
  bound = false;
  constructor(readonly options: UpstreamOptions, readonly sink: UpstreamSink) {}
  send(xml: string): void {
    if (!this.closed && xml) this.written.push(xml);
  }
  restart(): void {
    this.restarts += 1;
  }
  close(): void {
    this.closed = true;
    this.sink.onEnd({ kind: 'closed' });
  }
  markBound(): void {
    this.bound = true;
  }
  /** Everything written so far, parsed as top-level elements. */
  get elements(): Element[] {
    return this.written.flatMap((xml) => parseBody(`<body ${HTTPBIND}>${xml}</body>`).children);
  }
  open(info: StreamInfo = { id: 'stream-1', from: 'example.com', version: '1.0' }): void {
    this.sink.onStreamOpen(info);
    this.server("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
  }
  /** The server sends these top-level elements (one chunk). */
  server(xml: string): void {
    this.sink.onElements(parseBody(`<body ${HTTPBIND} xmlns:stream='http://etherx.jabber.org/streams'>${xml}</body>`).children.map(stripStreamNs));
  }
}

/** Elements parsed out of a wrapper carry no wrapper declarations; nothing to strip but keep the shape. */
function stripStreamNs(el: Element): Element {
  return el;
}

/** The CM's session and link layers over fake upstreams, with a fake clock and an in-memory log. */
export function createSharedHarness(options: { maxMembers?: number; attachOrigins?: string[]; replayEvents?: number; replayMs?: number; maxQueueBytes?: number; creationsPerMinute?: number; creationBurst?: number } = {}) {
  const clock = new FakeClock();
  const { logger, lines } = createMemoryLogger('trace');
  const metrics = new Metrics();
  const upstreams: FakeUpstream[] = [];
  const links = new LinkRegistry({
    domains: { 'example.com': { tls: 'off', insecure: false }, 'other.example': { tls: 'off', insecure: false } },
    allowedRoutes: [],
    sharing: {
      maxMembers: options.maxMembers ?? 16,
      attachOrigins: options.attachOrigins,
      replayEvents: options.replayEvents ?? 1000,
      replayMs: options.replayMs ?? 120_000,
    },
    stream: { connectTimeoutMs: 1000, maxStanzaBytes: 1_000_000 },
    openUpstream: (opts, sink) => {
      const up = new FakeUpstream(opts, sink);
      upstreams.push(up);
      return up;
    },
    clock,
    log: logger,
    metrics,
  });
  const manager = new SessionManager(
    {
      ...TEST_LIMITS,
      maxQueueBytes: options.maxQueueBytes ?? TEST_LIMITS.maxQueueBytes,
      creationsPerMinute: options.creationsPerMinute ?? 0,
      creationBurst: options.creationBurst ?? 0,
    },
    links,
    clock,
    logger,
    metrics,
  );
  const post = (body: string, origin?: string, remoteAddress = '127.0.0.1'): FakeExchange => {
    const ex = new FakeExchange(body);
    ex.origin = origin;
    ex.remoteAddress = remoteAddress;
    manager.handle(ex);
    return ex;
  };
  let nextRid = 1000;
  /** A client: creates or attaches with `key`, then sends requests with consecutive rids. */
  const client = async (attrs = `shared:key='${KEY}' ${SHARED_NS}`, to = 'example.com', origin?: string) => {
    let rid = (nextRid += 100_000);
    const creation = post(`<body rid='${rid}' to='${to}' wait='60' hold='1' ver='1.11' ${attrs} ${HTTPBIND}/>`, origin);
    await Promise.resolve(); // the upstream connects in a microtask
    const sid = creation.replies[0] ? creation.attrs.sid : undefined;
    return {
      creation,
      sid: sid!,
      /** Sends one request (payload and attributes) with the next rid. */
      req(payload = '', extra = ''): FakeExchange {
        rid += 1;
        return post(`<body rid='${rid}' sid='${creationSid()}' ${extra} ${HTTPBIND}>${payload}</body>`);
      },
      get rid() {
        return rid;
      },
    };
    function creationSid(): string {
      return creation.attrs.sid!;
    }
  };
  /** The creator: creates with the key, logs in and binds `user@example.com/res`. */
  const creator = async (attrs = `shared:key='${KEY}' ${SHARED_NS}`) => {
    const ex = post(`<body rid='${(nextRid += 100_000)}' to='example.com' wait='60' hold='1' ver='1.11' ${attrs} ${HTTPBIND}/>`);
    let rid = nextRid;
    await Promise.resolve();
    const up = upstreams[upstreams.length - 1]!;
    up.open();
    const sid = ex.attrs.sid!;
    const send = (payload = '', extra = '') => post(`<body rid='${++rid}' sid='${sid}' ${extra} ${HTTPBIND}>${payload}</body>`);
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>");
    up.server("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    send('', "xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'");
    up.open();
    send("<iq type='set' id='bind_1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>res</resource></bind></iq>");
    up.server("<iq type='result' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.com/res</jid></bind></iq>");
    const held = send();
    return {
      creation: ex,
      sid,
      up,
      held,
      req: send,
      get rid() {
        return rid;
      },
    };
  };
  return { clock, lines, metrics, manager, links, upstreams, post, client, creator };
}
