import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { docsBlock, RESULTS_DIR } from '../bench/report.js';
import { loadMembers, MEMBERS_BLOCK, MEMBERS_FORMAT, renderMembers, type MembersRun } from '../bench/members-report.js';

/**
 * The members scenario (bench/members.ts, issue 15 §3) stores its run in
 * bench/results/members.json and writes the `members` block of docs/performance.md from it.
 */

test('bench members: the members block of docs/performance.md is what bench/results/members.json renders', () => {
  const stored = loadMembers(join(RESULTS_DIR, `${MEMBERS_BLOCK}.json`));
  const block = docsBlock(MEMBERS_BLOCK);
  assert.ok(block !== undefined, 'docs/performance.md has a members block');
  assert.equal(renderMembers(stored), block, 're-render with node dist/bench/members-report.js bench/results/members.json --write');
});

test('bench members: the verdicts follow the figures (all held and answered, RSS per member against 10 KiB)', () => {
  const run: MembersRun = {
    format: MEMBERS_FORMAT,
    date: '2026-12-06T00:00:00.000Z',
    machine: { date: '2026-12-06T00:00:00.000Z', nproc: 2, node: 'v20', prosody: 'Prosody', openFilesLimit: 20_000 },
    figures: { members: 20, links: 2, transport: 'HTTP/2', held: 20, answered: 20, failed: 0, rssPerMemberKiB: 9.5 },
    params: { links: 2, members: 10, linksInFlight: 50, http1: false },
    sessions: 20, links: 2, attached: 18, creatorsFailed: 0, membersFailed: 0, errors: [],
    setupS: 1, setupCpuMs: { cm: 10, prosody: 10 }, setupOtherCpuShare: 0,
    rssPerMemberKiB: { cm: 9.5, cmRaw: 12, youngGen: 2.5 }, heapPerMemberKiB: 5, externalPerMemberKiB: 0, prosodyRssPerLinkKiB: 30,
    rssKiB: { before: { cm: 1000, prosody: 1000 }, after: { cm: 1190, prosody: 1060 } },
    ping: { members: 20, ok: 20, failed: 0, medianLinkP50Ms: 1, worstLinkP99Ms: 2, seconds: 1 },
    durationS: 60,
  };
  const rows = (r: MembersRun): string[] => renderMembers(r).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| metric') && !l.startsWith('| ---'));
  assert.match(rows(run)[0]!, /\| met \|$/);
  assert.match(rows(run)[1]!, /\| met \|$/);
  assert.match(rows(run)[2]!, /\| met \|$/);
  const worse = { ...run, sessions: 19, rssPerMemberKiB: { cm: 12.5, cmRaw: 15, youngGen: 2.5 }, ping: { ...run.ping, ok: 19, failed: 1 } };
  assert.match(rows(worse)[0]!, /\*\*missed\*\*: 1 short/);
  assert.match(rows(worse)[1]!, /\*\*missed\*\*/);
  assert.match(rows(worse)[2]!, /\*\*missed\*\*: 1\.25× the limit/);
  assert.throws(() => loadMembers(join(RESULTS_DIR, 'default.json')), /format/);
});
