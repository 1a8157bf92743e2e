/**
 * Runs the connection manager in a process of its own, so that bench/run.ts can pin it to a core
 * and read its CPU time and RSS from /proc. The config comes as JSON in BENCH_CM_CONFIG (a full
 * CmConfig); the bound URL goes back over the IPC channel. The process is started with
 * `--expose-gc`, and `{ cmd: 'gc' }` runs two full collections before memory readings.
 * `{ cmd: 'prof-start' }` / `{ cmd: 'prof-stop', file }` take a V8 CPU profile of exactly one
 * measurement window (bench/run.ts --cpu-prof) through node:inspector.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { CmConfig } from '../src/config.js';

const config = JSON.parse(process.env.BENCH_CM_CONFIG ?? 'null') as CmConfig | null;
if (config === null || !process.send) {
  console.error('bench/cm-process.js runs as a child of bench/run.js (BENCH_CM_CONFIG and IPC)');
  process.exit(2);
}
const { createConnectionManager } = await import('../src/cm.js');
const cm = createConnectionManager(config);
const addr = await cm.start();
process.send({ ready: true, ...addr, pid: process.pid });

const gc = (globalThis as { gc?: () => void }).gc;

// The CM's own hiccups per measurement ({ cmd: 'hiccups', reset }): event-loop delay and GC
// pauses, so that tail latencies can be put down to them (or not). The probe samples every 20 ms:
// at 1 ms it woke the CM 1,000 times a second and cost ~3 % of a core, which the CPU-per-message
// and idle-CPU figures then charged to the CM. Stalls long enough to matter still show.
const LOOP_PROBE_MS = 20;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_PROBE_MS });
loopDelay.enable();
let gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push(e.duration);
}).observe({ entryTypes: ['gc'] });
let inspector: Session | undefined;

function post<T>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    inspector!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

process.on('message', (m: { cmd: string; id?: number; file?: string }) => {
  if (m.cmd === 'prof-start') {
    inspector ??= new Session();
    try { inspector.connect(); } catch { /* already connected */ }
    post('Profiler.enable')
      .then(() => post('Profiler.setSamplingInterval', { interval: 200 }))
      .then(() => post('Profiler.start'))
      // BENCH_HEAP_PROF=1: also sample allocations, including objects that young-generation GCs
      // collect, so that a window's garbage shows up by allocating function (.heapprofile).
      .then(() => (process.env.BENCH_HEAP_PROF === '1'
        ? post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
        : undefined))
      .then(() => process.send!({ id: m.id, profiling: true }), (err: Error) => process.send!({ id: m.id, error: err.message }));
    return;
  }
  if (m.cmd === 'prof-stop') {
    post<{ profile: unknown }>('Profiler.stop').then(
      async ({ profile }) => {
        writeFileSync(m.file!, JSON.stringify(profile));
        if (process.env.BENCH_HEAP_PROF === '1') {
          const heap = await post<{ profile: unknown }>('HeapProfiler.stopSampling');
          writeFileSync(m.file!.replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(heap.profile));
        }
        process.send!({ id: m.id, file: m.file });
      },
      (err: Error) => process.send!({ id: m.id, error: err.message }),
    );
    return;
  }
  if (m.cmd === 'hiccups') {
    process.send!({
      id: m.id,
      hiccups: {
        // The histogram holds the time between the probe's ticks: the delay is what exceeds the interval.
        loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_PROBE_MS),
        loopDelayMaxMs: Math.max(0, loopDelay.max / 1e6 - LOOP_PROBE_MS),
        gcPauses: gcPauses.length,
        gcMaxMs: gcPauses.length > 0 ? Math.max(...gcPauses) : 0,
        gcTotalMs: gcPauses.reduce((a, b) => a + b, 0),
      },
    });
    loopDelay.reset();
    gcPauses = [];
    return;
  }
  if (m.cmd === 'gc') {
    gc?.();
    gc?.();
    process.send!({ id: m.id, gc: gc !== undefined });
  } else if (m.cmd === 'stats') {
    process.send!({ id: m.id, stats: cm.stats(), memory: process.memoryUsage() });
  } else if (m.cmd === 'stop') {
    cm.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  }
});
process.on('disconnect', () => {
  void cm.stop().finally(() => process.exit(0));
});
