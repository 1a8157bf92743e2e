/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, see `npm run bench -- --cpu-prof`):
 * self time per function and per file, largest first.
 *
 *   node dist/bench/profile-summary.js bench/profiles/cm-round1-*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Idle + GC + program (the V8 pseudo-frames). */
  idleMs: number;
  gcMs: number;
  functions: Array<{ name: string; where: string; selfMs: number; share: number }>;
  files: Array<{ file: string; selfMs: number; share: number }>;
}

function shortUrl(url: string, root: string): string {
  let u = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  if (root !== '' && u.startsWith(root)) u = u.slice(root.length + 1);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm);
  return u === '' ? '(native)' : u;
}

export function summarizeProfile(file: string, top = 25, root = process.cwd()): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample; attribute the next delta to this one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const cf = node.callFrame;
    const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    if (name === '(garbage collector)') gc += us;
    const path = shortUrl(cf.url, root);
    const where = cf.url === '' ? '(native)' : `${path}:${cf.lineNumber + 1}`;
    const key = `${name} ${where}`;
    const e = fn.get(key) ?? { name, where, us: 0 };
    e.us += us;
    fn.set(key, e);
    const fileKey = cf.url === '' ? name : path;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const busy = total - idle;
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    functions: [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: busy > 0 ? e.us / busy : 0 })),
    files: [...files.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([f, us]) => ({ file: f, selfMs: us / 1000, share: busy > 0 ? us / busy : 0 })),
  };
}

/** Who calls `name`: self time of its nodes grouped by the `depth` nearest callers. */
export function callersOf(file: string, name: string, depth = 4, top = 10, root = process.cwd()): Array<{ stack: string; selfMs: number }> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i + 1] ?? 0));
  }
  const stacks = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName !== name) continue;
    const frames: string[] = [];
    let cur = parent.get(id);
    while (cur !== undefined && frames.length < depth) {
      const cf = byId.get(cur)!.callFrame;
      if (cf.functionName !== '(root)') frames.push(`${cf.functionName || '(anonymous)'} ${shortUrl(cf.url, root)}:${cf.lineNumber + 1}`);
      cur = parent.get(cur);
    }
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + us);
  }
  return [...stacks.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([stack, us]) => ({ stack, selfMs: us / 1000 }));
}

export function formatProfile(s: ProfileSummary, title: string): string {
  const busy = s.totalMs - s.idleMs;
  const lines = [
    `#### ${title}`,
    '',
    `Busy ${busy.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled (GC ${s.gcMs.toFixed(0)} ms).`,
    '',
    '| self ms | share of busy | function | where |',
    '|---:|---:|---|---|',
    ...s.functions.map((f) => `| ${f.selfMs.toFixed(1)} | ${(f.share * 100).toFixed(1)} % | \`${f.name}\` | ${f.where} |`),
    '',
    '| self ms | share of busy | file |',
    '|---:|---:|---|',
    ...s.files.slice(0, 15).map((f) => `| ${f.selfMs.toFixed(1)} | ${(f.share * 100).toFixed(1)} % | ${f.file} |`),
    '',
  ];
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const topIdx = args.indexOf('--top');
  const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 25;
  const callersIdx = args.indexOf('--callers');
  const callers = callersIdx >= 0 ? args[callersIdx + 1] : undefined;
  const skip = new Set([topIdx + 1, callersIdx + 1].filter((i) => i > 0));
  const files = args.filter((a, i) => !a.startsWith('--') && !skip.has(i));
  if (files.length === 0) {
    console.error('usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top N] [--callers FUNCTION]');
    process.exit(2);
  }
  for (const f of files) {
    if (callers !== undefined) {
      process.stdout.write(`callers of ${callers} in ${f}:\n`);
      for (const c of callersOf(f, callers, 5, top)) process.stdout.write(`${c.selfMs.toFixed(1)} ms  ${c.stack}\n`);
    } else {
      process.stdout.write(formatProfile(summarizeProfile(f, top), f) + '\n');
    }
  }
}
