import type { BoshExchange, BoshReply, ExchangeWatcher } from '../bosh/exchange.js';
import type { Logger } from '../log.js';
import { abortRequest, type HttpRequest, type HttpResponse } from './messages.js';

/** What a PostExchange needs of its server (ReplyWriter). */
export interface ReplySender {
  log: Logger;
  sendBosh(res: HttpResponse, answer: BoshReply, acceptEncoding: string | undefined, corsHeaders: Record<string, string>, connectionClose: boolean): void;
}

/**
 * One POST as the BOSH layer sees it. An object rather than closures over the dispatcher: a held
 * request keeps it for up to `wait` seconds, and closures with their context cost ~0.3 KiB more.
 */
export class PostExchange implements BoshExchange {
  body = '';
  oversized = false;
  malformed: string | undefined = undefined;
  replied = false;
  gone = false;
  watcher: ExchangeWatcher | undefined = undefined;

  constructor(
    private readonly server: ReplySender,
    readonly req: HttpRequest,
    readonly res: HttpResponse,
    readonly remoteAddress: string,
    readonly origin: string | undefined,
    readonly secure: boolean,
    private readonly acceptEncoding: string | undefined,
    private readonly corsHeaders: Record<string, string>,
  ) {}

  // An oversized request may still be uploading: close the connection after the reply.
  reply(answer: BoshReply): void {
    this.send(answer, this.oversized);
  }

  drop(): void {
    this.replied = true;
    abortRequest(this.req);
  }

  /**
   * The response closed: after its reply, or because the client went away before it (HTTP/1.1
   * connection closed, HTTP/2 stream reset). In the second case the watcher drops the request (D24).
   */
  connectionClosed(): void {
    if (this.replied) return;
    this.replied = true;
    this.gone = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    watcher?.exchangeGone(this);
  }

  /** The one reply to this request; `connectionClose` ends an HTTP/1.1 connection after it. */
  send(answer: BoshReply, connectionClose = false): void {
    if (this.gone) return;
    if (this.replied) {
      this.server.log.warn(this.logFields({ status: answer.status }), 'second reply to one request ignored');
      return;
    }
    this.replied = true;
    this.server.sendBosh(this.res, answer, this.acceptEncoding, this.corsHeaders, connectionClose);
  }

  logFields(extra: Record<string, unknown>): Record<string, unknown> {
    return { remoteAddress: this.remoteAddress, origin: this.origin, ...extra };
  }
}
