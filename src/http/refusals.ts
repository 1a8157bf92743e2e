import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** Why the HTTP layer turned a client away (the `reason` label of `sbosh_http_refused_total`). */
export type RefusalReason = 'connections' | 'connections-per-address' | 'requests-per-address' | 'timeout';

const MESSAGES: Record<RefusalReason, string> = {
  connections: 'connection refused: the CM is at its connection limit (http.maxConnections or the descriptor budget)',
  'connections-per-address': 'connection refused: the client address is at http.maxConnectionsPerAddress',
  'requests-per-address': 'request refused with 429: the client address is at http.maxRequestsPerAddress',
  timeout: 'request not received in time (http.headersTimeoutS / http.requestTimeoutS); answered 408 and closed',
};

/** How often each reason may log a warning while refusals go on. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Counts every refusal in the metrics, and warns in the log without flooding it under attack:
 * the first refusal of a reason logs at once; the ones after it within REFUSAL_LOG_INTERVAL_MS
 * are summed into one line (count and last address) at the end of the interval.
 */
export class Refusals {
  private readonly quiet = new Map<RefusalReason, { count: number; address: string; timer: TimerHandle }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly metrics: Metrics | undefined,
  ) {}

  refuse(reason: RefusalReason, address: string): void {
    this.metrics?.httpRefused.inc({ reason });
    const quiet = this.quiet.get(reason);
    if (quiet) {
      quiet.count += 1;
      quiet.address = address;
      return;
    }
    this.log.warn({ reason, remoteAddress: address }, MESSAGES[reason]);
    // That line opens a quiet interval for this reason.
    this.quiet.set(reason, { count: 0, address, timer: this.clock.setTimeout(() => this.flush(reason), REFUSAL_LOG_INTERVAL_MS) });
  }

  /** Cancels the pending summaries (server closed). */
  destroy(): void {
    for (const quiet of this.quiet.values()) quiet.timer.cancel();
    this.quiet.clear();
  }

  private flush(reason: RefusalReason): void {
    const quiet = this.quiet.get(reason);
    if (!quiet) return;
    this.quiet.delete(reason);
    if (quiet.count === 0) return;
    this.log.warn({ reason, refused: quiet.count, lastAddress: quiet.address, intervalS: REFUSAL_LOG_INTERVAL_MS / 1000 }, `${MESSAGES[reason]} (repeated)`);
    // Still under attack: the next refusal opens a new interval with a line of its own.
  }
}
