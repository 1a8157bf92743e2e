/**
 * What the tabs scenario (bench/tabs.ts) measures and records in bench/results/tabs.json: one
 * user with many tabs, per system and layout. bench/tabs-report.ts turns it into the block of
 * docs/performance.md and into bar values for the charts.
 */
import type { TcpCounters } from './proc.js';
import type { Machine, TabsFigures } from './results.js';
import type { LatencySummary, OpenResult } from './types.js';

/**
 * The format of bench/results/tabs.json, raised whenever a recorded figure changes its meaning.
 * It is independent of RESULTS_FORMAT (bench/results.ts), which the relay runs use; `scenario`
 * tells the two kinds of file apart.
 */
export const TABS_RESULTS_FORMAT = 1;

/**
 * (a) shared-bosh, each user's tabs on one link (Shared BOSH); (b) shared-bosh, every tab a
 * session of its own; (c) Prosody's mod_bosh; (d) ejabberd's mod_bosh.
 */
export const TABS_SYSTEMS = ['shared', 'unshared', 'mod_bosh', 'ejabberd'] as const;
export type TabsSystem = (typeof TABS_SYSTEMS)[number];

export const TABS_SYSTEM_TITLE: Record<TabsSystem, string> = {
  shared: '(a) shared-bosh, Shared BOSH',
  unshared: '(b) shared-bosh, no sharing',
  mod_bosh: '(c) Prosody mod_bosh',
  ejabberd: '(d) ejabberd mod_bosh',
};

/** http1: plain HTTP/1.1 on loopback, a keep-alive connection per tab; https: TLS, the CM over one HTTP/2 connection per user, mod_bosh and ejabberd over HTTPS/1.1. */
export const TABS_LAYOUTS = ['http1', 'https'] as const;
export type TabsLayout = (typeof TABS_LAYOUTS)[number];

export const TABS_LAYOUT_TITLE: Record<TabsLayout, string> = {
  http1: 'plain HTTP/1.1, one keep-alive connection per tab',
  https: 'HTTPS: the CM over one HTTP/2 connection per user (all its tabs), mod_bosh and ejabberd over HTTPS/1.1 (one connection per tab)',
};

export interface TabsParams {
  mode: 'smoke' | 'default';
  users: number;
  tabs: number;
  /** Inbound messages per second, in total, to the users' bare JIDs. */
  rate: number;
  senders: number;
  rounds: number;
  systems: TabsSystem[];
  layouts: TabsLayout[];
  /** Concurrency of the first tabs' logins, and of tabs 2..T joining. */
  firstConcurrency: number;
  joinConcurrency: number;
  settleMs: number;
  warmupMs: number;
  windowMs: number;
  drainMs: number;
  quietProbeMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  retries: number;
  /** --cpu-prof: profiles of the CM's joins and stream window; read by bench/servers.ts. */
  cpuProf: boolean;
  /** Fixed for this scenario (the CM's defaults; Prosody's default GC); read by bench/servers.ts. */
  cmLogLevel: 'info';
  prosodyGc: 'default';
  write: boolean;
  maxMinutes: number;
  argv: string[];
}

/** Per process of a system: `cm` (the CM, NaN without one) and `server` (Prosody or ejabberd). */
export interface Parts {
  cm: number;
  server: number;
  total: number;
}

/** A group of tabs set up: the generator's setup figures, plus the connections it opened. */
export interface TabsOpen extends Omit<OpenResult, 'systemCpuMs' | 'jids'> {
  /** HTTP connections the generator opened meanwhile (HTTP/1.1 and HTTP/2). */
  connections: number;
}

export interface TabsStream {
  rate: number;
  users: number;
  tabs: number;
  senders: number;
  windowS: number;
  sentInWindow: number;
  offeredPerS: number;
  /** Messages of the window that every tab of their user got. */
  deliveredToAll: number;
  lastTabMs: LatencySummary;
  firstTabMs: LatencySummary;
  /** Index t: messages of the window that tab t of their user never got / got more than once (extra copies). */
  missingPerTab: number[];
  duplicatesPerTab: number[];
  /** Messages that reached a tab of another user. */
  misrouted: number;
  late: number;
  sessionsLost: number;
  cpuMs: Record<number, number>;
  loadgenCpuMs: number;
  otherCpuMs: number;
  httpRequests: number;
  tcp: TcpCounters;
  attempts: number;
}

export interface TabsRun {
  system: TabsSystem;
  layout: TabsLayout;
  round: number;
  pids: { cm?: number; server: number; loadgen: number };
  affinity: { cm?: string; server: string; loadgen: string };
  /** RSS (KiB) right after start and a forced GC, before any session: the CM and the XMPP server. */
  idleKiB: { cm: number; server: number };
  /** RSS (KiB) after warm-up and the senders' logins, and with all tabs up; both after forced GCs. */
  rssBeforeKiB: { cm: number; server: number };
  rssAfterKiB: { cm: number; server: number };
  /** Growth of V8's young generation in the CM over the same span (KiB), taken out of `perUserKiB.cm`. */
  cmYoungGenKiB: number;
  /** RSS growth per user with all T tabs; `cmRaw` with the young generation left in. */
  perUserKiB: Parts & { cmRaw: number };
  /** The first tab of each user (a full login; with Shared BOSH it creates the link). */
  first: TabsOpen & { cpuMsPer: Parts };
  /** Tabs 2..T (attach with the key in (a), a full login otherwise). */
  join: TabsOpen & { cpuMsPer: Parts };
  /** Sessions of the tab users bound in the XMPP server (c2s sessions of the CM, or BOSH sessions). */
  xmppSessions: number;
  /** The CM's own count once all tabs are up. */
  cmStats?: { sessions: number; links: number };
  stream: TabsStream & { cpuMsPerInbound: Parts; cpuUsPerCopy: Parts };
  errors: string[];
}

export interface TabsStored {
  scenario: 'tabs';
  format: number;
  machine: Machine;
  params: TabsParams;
  runs: TabsRun[];
  notes: string[];
  /** Medians per layout and system as the headline and the charts read them (tabsFigures() of bench/tabs-report.ts). */
  figures: TabsFigures[];
}
