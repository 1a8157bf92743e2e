import { createServer, type Server } from 'node:http';
import type { AddressInfo, BlockList } from 'node:net';
import type { Logger } from '../log.js';
import { pathOf, type HttpRequest, type HttpResponse } from './messages.js';
import { peerOn } from './peer.js';
import type { ReplyWriter } from './reply-writer.js';

/** The metrics page the server may serve (Prometheus text format). */
export interface MetricsPage {
  contentType: string;
  render(): Promise<string>;
}

/**
 * `http.metricsPath`: the page for the addresses of `metrics.allow` (403 for others), GET and
 * HEAD only, never with CORS headers (no browser page of another origin may read it). With
 * `trustProxy` the forwarded address counts, so a reverse proxy on loopback does not open it.
 */
export class MetricsEndpoint {
  constructor(
    private readonly page: MetricsPage,
    readonly path: string,
    private readonly allow: BlockList,
    private readonly trustProxy: boolean,
    private readonly replies: ReplyWriter,
    private readonly log: Logger,
  ) {}

  handle(req: HttpRequest, res: HttpResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.replies.sendText(req, res, 405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
    const { address, listed } = peerOn(this.allow, req, this.trustProxy);
    if (!listed) {
      this.log.info({ remoteAddress: address }, 'metrics page refused (403): address not in metrics.allow');
      return this.replies.sendText(req, res, 403, 'Forbidden\n');
    }
    this.page.render().then(
      (text) => this.replies.send(res, 200, { 'Content-Type': this.page.contentType, 'Cache-Control': 'no-store' }, Buffer.from(text)),
      () => this.replies.sendText(req, res, 500, 'metrics unavailable\n'),
    );
  }
}

/** `metrics.port`: a plain-HTTP listener that serves the metrics page and nothing else. */
export class MetricsListener {
  private readonly server: Server;

  constructor(
    private readonly endpoint: MetricsEndpoint,
    private readonly host: string,
    private readonly port: number,
    private readonly replies: ReplyWriter,
    private readonly log: Logger,
  ) {
    this.server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
      if (pathOf(req) === this.endpoint.path) this.endpoint.handle(req, res);
      else this.replies.sendText(req, res, 404, 'Not Found\n');
    });
    this.server.on('error', (err) => this.log.error({ err }, 'metrics listener error'));
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen for metrics on ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      this.server.once('error', onError);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', onError);
        const { port } = this.server.address() as AddressInfo;
        const url = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${port}${this.endpoint.path}`;
        this.log.info({ url }, 'listening for metrics scrapes');
        resolve(url);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
