import type { BoshExchange, BoshReply, ExchangeWatcher } from '../../src/bosh/exchange.js';
import type { InboundItem, JoinRequest, JoinResult, LinkProvider, MemberPort, UpstreamInfo } from '../../src/bosh/ports.js';
import { SessionManager, type BoshLimits } from '../../src/bosh/session-manager.js';
import { BoshError } from '../../src/bosh/conditions.js';
import { parseBody, type ParsedBody } from '../../src/xml/body-parser.js';
import type { Element } from '../../src/xml/element.js';
import { createMemoryLogger } from '../../src/log.js';
import { FakeClock } from './fake-clock.js';

export const HTTPBIND = "xmlns='http://jabber.org/protocol/httpbind'";

export const TEST_LIMITS: BoshLimits = {
  maxWaitS: 60,
  maxHold: 1,
  inactivityS: 30,
  pollingS: 2,
  pollingViolations: 10,
  pollingWindowS: 60,
  maxPauseS: 120,
  maxSessions: 100,
  maxQueueBytes: 10_000,
  creationsPerMinute: 0,
  creationBurst: 0,
  maxDepth: 64,
};

/** One fake HTTP exchange: the reply it got, if any. */
export class FakeExchange implements BoshExchange {
  replies: BoshReply[] = [];
  oversized = false;
  remoteAddress = '127.0.0.1';
  origin: string | undefined = undefined;
  secure = false;
  watcher: ExchangeWatcher | undefined = undefined;
  gone = false;
  /** Replies the BOSH layer wrote after the client went away (D24: there must be none). */
  writtenAfterGone = 0;
  /** Set to make reply() throw (issue 11.4). */
  replyFault: Error | undefined = undefined;
  constructor(public body: string) {}
  dropped = false;
  reply(reply: BoshReply): void {
    if (this.replyFault) throw this.replyFault;
    if (this.gone) {
      this.writtenAfterGone += 1;
      return;
    }
    this.replies.push(reply);
  }
  /** The client goes away before its reply (page reload, HTTP/2 stream reset). */
  close(): void {
    if (this.gone || this.answered) return;
    this.gone = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    watcher?.exchangeGone(this);
  }
  drop(): void {
    this.dropped = true;
  }
  get answered(): boolean {
    return this.replies.length > 0;
  }
  /** The single reply, parsed. */
  get parsed(): ParsedBody {
    if (this.replies.length !== 1) throw new Error(`expected 1 reply, got ${this.replies.length}`);
    return parseBody(this.replies[0]!.body);
  }
  get attrs(): Record<string, string> {
    return this.parsed.attrs;
  }
}

/** A link that records what members send and lets the test play the server. */
export class FakeLink {
  members: MemberPort[] = [];
  sent: Element[][] = [];
  restarts = 0;
  left: Array<Element[] | null> = [];
  joins: JoinRequest[] = [];
  info: UpstreamInfo = { id: 'stream-1', from: 'example.com', version: '1.0' };
  /** Set to make the link throw (a bug in it, issue 11.4) from send() or leave(). */
  faults: { send?: Error; leave?: Error } = {};

  provider: LinkProvider = {
    join: (request: JoinRequest, member: MemberPort): JoinResult => {
      if (request.to === 'unknown.example') throw new BoshError('host-unknown');
      this.joins.push(request);
      this.members.push(member);
      return {
        link: {
          send: (payload) => {
            if (this.faults.send) throw this.faults.send;
            this.sent.push(payload);
            return undefined;
          },
          restart: () => void (this.restarts += 1),
          leave: (payload) => {
            if (this.faults.leave) throw this.faults.leave;
            this.left.push(payload);
          },
        },
        attrs: {},
      };
    },
  };

  /** The server opens the stream and sends features. */
  open(member = this.members[this.members.length - 1]!): void {
    member.streamOpened(this.info);
    member.deliver([{ xml: "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" }]);
  }

  deliver(xml: string, member = this.members[this.members.length - 1]!): void {
    const items: InboundItem[] = [{ xml }];
    member.deliver(items);
  }
}

/** A session manager with a fake clock and link, plus helpers to speak BOSH to it. */
export function createHarness(limits: Partial<BoshLimits> = {}) {
  const clock = new FakeClock();
  const link = new FakeLink();
  const { logger, lines } = createMemoryLogger('trace');
  const manager = new SessionManager({ ...TEST_LIMITS, ...limits }, link.provider, clock, logger);
  const post = (body: string): FakeExchange => {
    const ex = new FakeExchange(body);
    manager.handle(ex);
    return ex;
  };
  /** Creates a session (and opens its stream) with the given extra creation attributes. */
  const create = (attrs = "wait='60' hold='1' ver='1.11'", rid = 1000) => {
    const ex = post(`<body rid='${rid}' to='example.com' ${attrs} ${HTTPBIND}/>`);
    link.open();
    const sid = ex.attrs.sid!;
    return { ex, sid, rid };
  };
  /** A request of session `sid` with `rid`, extra attributes and payload. */
  const req = (sid: string, rid: number, payload = '', attrs = '') =>
    post(`<body rid='${rid}' sid='${sid}' ${attrs} ${HTTPBIND}>${payload}</body>`);
  return { clock, link, manager, logger, lines, post, create, req };
}
