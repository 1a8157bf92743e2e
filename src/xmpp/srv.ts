import { resolveSrv as dnsResolveSrv } from 'node:dns/promises';
import type { UpstreamOptions } from './types.js';

export const DEFAULT_XMPP_CLIENT_PORT = 5222;

/** One place to try a TCP connection. */
export interface UpstreamTarget {
  host: string;
  port: number;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The domain publishes that it offers no XMPP client service (an SRV target of '.'). */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
}

export type TargetOptions = Pick<UpstreamOptions, 'domain' | 'host' | 'port' | 'resolveSrv'>;

/** How a failed SRV lookup was decided, for the caller's log. */
export interface ResolvedTargets {
  targets: UpstreamTarget[];
  /** 'fixed': configured host; 'srv': from SRV records; 'fallback': the domain itself. */
  source: 'fixed' | 'srv' | 'fallback';
  /** Why the SRV lookup gave nothing (fallback only). */
  srvError?: string;
}

/**
 * docs/design.md D22: a configured host wins; otherwise `_xmpp-client._tcp.<domain>` SRV records
 * (RFC 6120 §3.2.1), and when there are none, the domain itself on the configured port
 * (RFC 6120 §3.2.2). Rejects with ServiceUnavailableError when SRV says there is no service.
 */
export async function resolveTargets(options: TargetOptions, random: () => number = Math.random): Promise<ResolvedTargets> {
  const port = options.port ?? DEFAULT_XMPP_CLIENT_PORT;
  if (options.host !== undefined) return { targets: [{ host: options.host, port }], source: 'fixed' };

  const resolve = options.resolveSrv ?? dnsResolveSrv;
  let records: SrvRecord[];
  try {
    records = await resolve(`_xmpp-client._tcp.${options.domain}`);
  } catch (err) {
    // RFC 6120 §3.2.2: no SRV (NXDOMAIN, NODATA, or a failed lookup): try the domain itself.
    return { targets: [{ host: options.domain, port }], source: 'fallback', srvError: errorCode(err) };
  }
  if (records.length === 0) return { targets: [{ host: options.domain, port }], source: 'fallback', srvError: 'no records' };

  // RFC 2782 "Target": a single record whose target is '.' means "decidedly not available".
  if (records.length === 1 && isRootTarget(records[0]!.name)) {
    throw new ServiceUnavailableError(`${options.domain} offers no XMPP client service (SRV target '.')`);
  }
  const targets = orderSrvRecords(records, random)
    .filter((r) => !isRootTarget(r.name))
    .map((r) => ({ host: r.name.replace(/\.$/, ''), port: r.port }));
  return { targets, source: 'srv' };
}

/**
 * RFC 2782 "Usage rules": ascending priority; within one priority, a weighted random order in
 * which records of weight 0 have a small chance of coming first.
 */
export function orderSrvRecords(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const record of records) {
    const group = byPriority.get(record.priority);
    if (group) group.push(record);
    else byPriority.set(record.priority, [record]);
  }
  const ordered: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero-weight records first, so they are picked only when the random number is 0.
    const group = byPriority.get(priority)!.sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (group.length > 0) {
      const total = group.reduce((sum, r) => sum + r.weight, 0);
      const pick = Math.floor(random() * (total + 1)); // uniform in 0..total
      let running = 0;
      let index = group.length - 1;
      for (let i = 0; i < group.length; i++) {
        running += group[i]!.weight;
        if (running >= pick) {
          index = i;
          break;
        }
      }
      ordered.push(group.splice(index, 1)[0]!);
    }
  }
  return ordered;
}

function isRootTarget(name: string): boolean {
  return name === '.' || name === '';
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}
