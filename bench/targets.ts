/**
 * The targets of issue #15, in one place: the headline of docs/performance.md (bench/headline.ts)
 * and the detail tables of each run (bench/report.ts) judge against these. The targets of issue #5
 * are withdrawn; their figures stay in the detail tables, without a target.
 */
export const TARGETS = {
  /** §1, U = 100 users × T = 8 tabs, each layout. */
  tabs: {
    users: 100,
    tabs: 8,
    /** Server CPU (CM + XMPP server) per inbound message delivered to all T tabs, against each system. */
    cpuVsModBosh: 0.3,
    cpuVsEjabberd: 0.5,
    /** Server RSS per user with T tabs. */
    rssVsModBosh: 0.3,
    rssVsEjabberd: 0.1,
    /** CPU per joining tab against a full login's CM + Prosody CPU. */
    joinVsLogin: 0.1,
    joinP50Ms: 5,
    /** p99 of the delivery to the last tab, at this inbound rate. */
    lastTabP99Ms: 10,
    lastTabRate: 100,
  },
  /** §2, the project's relay bench. */
  relay: {
    p99Ms: 10,
    /** p99 under p99Ms at every step up to this rate, in every round. */
    p99UpToRate: 1400,
    highestVsModBosh: 1.5,
    highestVsNxb: 1,
    /** GC time per HTTP request against the run before issue #15 (halved). */
    gcPerHttpVsBefore: 0.5,
    /** The step rate at which GC per request and the tails are read. */
    tailRate: 1000,
  },
  /** §3. */
  logins: {
    setupCpuMs: 1.0,
    idleRssKiB: 10,
    members: 50_000,
  },
} as const;
