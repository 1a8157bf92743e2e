import { readFileSync } from 'node:fs';
import type { Clock, TimerHandle } from './clock.js';
import type { CmConfig, DomainConfig } from './config.js';
import type { Logger } from './log.js';
import { describeConnectFailure } from './xmpp/diagnosis.js';
import type { Upstream, UpstreamEnd, UpstreamOptions, UpstreamSink } from './xmpp/types.js';
import { NS_STREAM_ERRORS } from './protocol/namespaces.js';
import { openUpstream } from './xmpp/upstream.js';

/**
 * The upstream check (`shared-bosh check`, the check at start, and the readiness probe): for each
 * served domain, resolve its server, connect, STARTTLS, verify the certificate against the domain
 * and wait for the first usable stream features, exactly as a session's stream does (the same
 * openUpstream), then close. One line per domain: OK, or what failed and the setting that fixes it.
 */
export interface DomainCheck {
  domain: string;
  ok: boolean;
  /** e.g. `domain localhost: OK (STARTTLS, certificate valid for localhost)`. */
  line: string;
}

export type OpenUpstream = (options: UpstreamOptions, sink: UpstreamSink) => Upstream;

export interface CheckDeps {
  logger: Logger;
  clock: Clock;
  /** @default openUpstream */
  open?: OpenUpstream;
}

/** Checks one domain; never rejects. */
export function checkDomain(name: string, domain: DomainConfig, config: Pick<CmConfig, 'upstream'>, deps: CheckDeps): Promise<DomainCheck> {
  const fail = (reason: string): DomainCheck => ({ domain: name, ok: false, line: `domain ${name}: FAILED: ${reason}` });
  let ca: string | undefined;
  try {
    ca = domain.caFile === undefined ? undefined : readFileSync(domain.caFile, 'utf8');
  } catch (err) {
    return Promise.resolve(fail(`cannot read the CA file ${domain.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`));
  }
  return new Promise((resolve) => {
    let upstream: Upstream | undefined;
    let opened = false;
    const sink: UpstreamSink = {
      onStreamOpen() {
        if (opened) return;
        opened = true;
        resolve({ domain: name, ok: true, line: `domain ${name}: OK (${secured(name, domain)})` });
        upstream?.close();
      },
      onElements() {},
      onEnd(end: UpstreamEnd) {
        if (!opened) resolve(fail(failure(name, end)));
      },
    };
    try {
      upstream = (deps.open ?? openUpstream)(
        {
          domain: name,
          host: domain.host,
          port: domain.port,
          tls: domain.tls,
          ca,
          insecure: domain.insecure,
          connectTimeoutMs: config.upstream.connectTimeoutMs,
          maxStanzaBytes: config.upstream.maxStanzaBytes,
          logger: deps.logger,
          clock: deps.clock,
        },
        sink,
      );
    } catch (err) {
      resolve(fail(`the check itself failed (${(err as Error).message})`));
    }
  });
}

/** Every served domain, in parallel, in the order of the configuration. */
export function checkUpstreams(config: Pick<CmConfig, 'domains' | 'upstream'>, deps: CheckDeps): Promise<DomainCheck[]> {
  return Promise.all(Object.entries(config.domains).map(([name, domain]) => checkDomain(name, domain, config, deps)));
}

function secured(name: string, d: DomainConfig): string {
  if (d.tls === 'off') return 'no TLS';
  if (d.insecure) return 'STARTTLS, certificate NOT verified (insecure)';
  return d.tls === 'required' ? `STARTTLS, certificate valid for ${name}` : `STARTTLS if offered, certificate valid for ${name} when used`;
}

function failure(name: string, end: UpstreamEnd): string {
  switch (end.kind) {
    case 'connect-failed':
      return describeConnectFailure(end.error.message, { domain: name });
    case 'stream-error': {
      const condition = end.error.elements().find((c) => c.attrs.xmlns === NS_STREAM_ERRORS)?.name ?? 'unknown';
      const hint = condition === 'host-unknown' ? `: that server does not serve ${name}; check --upstream-host (domains.${name}.host)` : '';
      return `the server answered with the stream error <${condition}/>${hint}`;
    }
    case 'lost':
      return `the connection ended before the stream was open${end.error ? ` (${end.error.message})` : ''}`;
    case 'closed':
      return 'the stream closed before it was open';
    case 'failed':
      return `the connection manager failed handling the stream (${end.error.message})`;
  }
}

/**
 * Checks every served domain at start() and then every `upstream.checkIntervalS` (0: only at
 * start); readiness() reports the last results. Logs a domain's failure, and its recovery, when
 * its state changes.
 */
export class UpstreamMonitor {
  private last: DomainCheck[] | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly config: Pick<CmConfig, 'domains' | 'upstream'>,
    private readonly deps: CheckDeps,
  ) {}

  /** Runs the first check now; resolves with its results. */
  start(): Promise<readonly DomainCheck[]> {
    return this.run();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Ready when every domain passed the last check; not before the first one is done. */
  readiness(): { ready: boolean; lines: string[] } {
    if (this.last === undefined) return { ready: false, lines: ['upstream check not done yet'] };
    return { ready: this.last.every((c) => c.ok), lines: this.last.map((c) => c.line) };
  }

  private async run(): Promise<readonly DomainCheck[]> {
    const results = await checkUpstreams(this.config, this.deps);
    if (this.stopped) return results;
    const previous = new Map(this.last?.map((c) => [c.domain, c.ok]));
    for (const check of results) {
      if (check.ok && previous.get(check.domain) === false) this.deps.logger.info({ domain: check.domain }, check.line);
      else if (!check.ok && previous.get(check.domain) !== false) this.deps.logger.warn({ domain: check.domain }, check.line);
    }
    this.last = results;
    const intervalS = this.config.upstream.checkIntervalS;
    if (intervalS > 0) this.timer = this.deps.clock.setTimeout(() => void this.run(), intervalS * 1000);
    return results;
  }
}
