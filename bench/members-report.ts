/**
 * The `members` block of docs/performance.md (bench/members.ts: many idle Shared BOSH members in
 * one CM process) and what bench/results/members.json holds. Self-contained: it shares only the
 * block markers' form and writeDocs() with bench/report.ts.
 *
 *   node dist/bench/members-report.js bench/results/members.json [--write]
 *
 * prints the block (or replaces it in docs/performance.md, and re-renders the headline, which
 * reads the same file); `npm test` checks that the block is what the stored run renders to.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MembersFigures } from './results.js';

export const MEMBERS_BLOCK = 'members';
/** Bumped when the fields below change meaning: an older file is refused, not mislabelled. */
export const MEMBERS_FORMAT = 'members-1';
/** Issue 15 §3: RSS per idle session (and per member) at most this many KiB. */
export const MEMBERS_RSS_TARGET_KIB = 10;

export interface MembersRun {
  format: string;
  date: string;
  machine: { date: string; nproc: number; node: string; prosody: string; openFilesLimit: number };
  /** What the headline of docs/performance.md reads (bench/headline.ts). */
  figures: MembersFigures;
  params: { links: number; members: number; linksInFlight: number; http1: boolean };
  /** Members (BOSH sessions) the CM held, from its own count, and upstream links. */
  sessions: number;
  links: number;
  /** Members that attached to a live link (all but the first of each link). */
  attached: number;
  creatorsFailed: number;
  membersFailed: number;
  errors: string[];
  setupS: number;
  setupCpuMs: { cm: number; prosody: number };
  /** CPU used by other processes during the set-up, as a share of one CPU. */
  setupOtherCpuShare: number;
  /** `cm`: without the growth of V8's young generation (a per-process buffer), as bench/run.ts reports idle sessions. */
  rssPerMemberKiB: { cm: number; cmRaw: number; youngGen: number };
  heapPerMemberKiB: number;
  externalPerMemberKiB: number;
  prosodyRssPerLinkKiB: number;
  rssKiB: { before: { cm: number; prosody: number }; after: { cm: number; prosody: number } };
  ping: { members: number; ok: number; failed: number; medianLinkP50Ms: number; worstLinkP99Ms: number; seconds: number };
  durationS: number;
}

const f = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—');
const n = (x: number): string => x.toLocaleString('en-US');

export function renderMembers(r: MembersRun): string {
  const total = r.params.links * r.params.members;
  const rssMet = r.rssPerMemberKiB.cm <= MEMBERS_RSS_TARGET_KIB;
  const allAnswered = r.ping.ok === total && r.sessions === total;
  const lines = [
    `<!-- bench:results:${MEMBERS_BLOCK}:begin -->`,
    `## Results: ${n(total)} idle Shared BOSH members in one process (\`node dist/bench/members.js\`) of ${r.date.slice(0, 10)}`,
    '',
    `${n(r.params.links)} links of ${n(r.params.members)} members over ${r.params.http1 ? 'HTTP/1.1' : 'HTTPS + HTTP/2'}: per link one login with a \`shared:key\` (one c2s `
      + `session in Prosody) and ${n(r.params.members - 1)} attaches; ${n(r.params.linksInFlight)} links set up at a time. Then every member `
      + 'pings the server (XEP-0199) through its link and must get the answer itself. Node '
      + `${r.machine.node}, ${r.machine.prosody}, ${r.machine.nproc} CPUs, servers on core 0, RLIMIT_NOFILE ${n(r.machine.openFilesLimit)}. `
      + `The run took ${f(r.durationS / 60)} minutes.`,
    '',
    '| metric | value | target | result |',
    '| --- | --- | --- | --- |',
    `| Members held by the CM / upstream links | ${n(r.sessions)} / ${n(r.links)} (${n(r.attached)} attached; ${n(r.creatorsFailed)} logins, ${n(r.membersFailed)} attaches failed) | ${n(total)} | ${r.sessions === total ? 'met' : `**missed**: ${n(total - r.sessions)} short`} |`,
    `| Members answering a ping (the answer delivered to the member that asked) | ${n(r.ping.ok)} of ${n(r.ping.members)} (${n(r.ping.failed)} failed) in ${f(r.ping.seconds)} s; median of the links' p50 ${f(r.ping.medianLinkP50Ms, 2)} ms, worst link p99 ${f(r.ping.worstLinkP99Ms, 2)} ms | every member | ${allAnswered ? 'met' : '**missed**'} |`,
    `| RSS per member (KiB): CM alone, without V8's young generation | ${f(r.rssPerMemberKiB.cm, 2)} | ≤ ${MEMBERS_RSS_TARGET_KIB} KiB (the target for an idle session) | ${rssMet ? 'met' : `**missed**: ${f(r.rssPerMemberKiB.cm / MEMBERS_RSS_TARGET_KIB, 2)}× the limit`} |`,
    `| RSS per member (KiB): CM alone, raw (young generation ${f(r.rssPerMemberKiB.youngGen, 2)} of it) | ${f(r.rssPerMemberKiB.cmRaw, 2)} | — | — |`,
    `| V8 heap per member (KiB), external | ${f(r.heapPerMemberKiB, 2)}, ${f(r.externalPerMemberKiB, 2)} | — | — |`,
    `| CM RSS before / after (MiB) | ${f(r.rssKiB.before.cm / 1024)} / ${f(r.rssKiB.after.cm / 1024)} | — | — |`,
    `| Prosody RSS per link (KiB) | ${f(r.prosodyRssPerLinkKiB)} | — | — |`,
    `| Set-up of all members | ${f(r.setupS)} s; CPU: CM ${f(r.setupCpuMs.cm / 1000)} s (${f(r.setupCpuMs.cm / Math.max(1, r.sessions), 3)} ms per member), Prosody ${f(r.setupCpuMs.prosody / 1000)} s; other processes ${f(r.setupOtherCpuShare * 100, 0)} % of a CPU | — | — |`,
    '',
    ...(r.errors.length > 0 ? [`Errors (first ${r.errors.length}): ${r.errors.map((e) => `\`${e.replace(/`/g, "'").slice(0, 200)}\``).join('; ')}`, ''] : []),
    `<!-- bench:results:${MEMBERS_BLOCK}:end -->`,
  ];
  return lines.join('\n');
}

export function loadMembers(file: string): MembersRun {
  const run = JSON.parse(readFileSync(file, 'utf8'), (_k, v: unknown) => (v === null ? Number.NaN : v)) as MembersRun;
  if (run.format !== MEMBERS_FORMAT) throw new Error(`${file} is of format ${String(run.format)}, this report renders ${MEMBERS_FORMAT}`);
  return run;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/members-report.js bench/results/members.json [--write]\n');
    process.exit(2);
  }
  const block = renderMembers(loadMembers(file));
  if (process.argv.includes('--write')) {
    const { writeDocs } = await import('./report.js');
    const { writeGenerated } = await import('./generated.js');
    writeDocs(block, MEMBERS_BLOCK);
    writeGenerated(); // the headline reads the same file
  } else {
    process.stdout.write(`${block}\n`);
  }
}
