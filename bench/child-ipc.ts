/**
 * The control channel of a server process that bench/run.ts starts (the CM, node-xmpp-bosh):
 * `{ cmd: 'gc' }` runs two full collections before memory readings (the process runs with
 * `--expose-gc`), `{ cmd: 'hiccups' }` returns and resets its event-loop delay, its GC pauses
 * (in all and by kind) and, in the CM, the time from stanzas queued for a client to the write of
 * the response that carries them (bench/tails.ts reports them),
 * `{ cmd: 'stats' }` its process.memoryUsage() and the resident size of V8's young generation with
 * what `stats()` adds, `{ cmd: 'prof-start' }` /
 * `{ cmd: 'prof-stop', file }` take a V8 CPU profile of exactly one measurement window
 * (bench/run.ts --cpu-prof) through node:inspector, and `{ cmd: 'stop' }` or a closed channel
 * stops the server and exits.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { subscribe } from 'node:diagnostics_channel';
import { constants, createHistogram, monitorEventLoopDelay, performance, PerformanceObserver, type PerformanceEntry, type RecordableHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

export interface BenchChild {
  /** Counters of the server itself, sent with process.memoryUsage(). */
  stats(): object;
  stop(): Promise<void>;
}

// The probe samples every 20 ms: at 1 ms it woke the CM 1,000 times a second and cost ~3 % of a
// core, which the CPU-per-message and idle-CPU figures then charged to the server. Stalls long
// enough to matter still show. BENCH_LOOP_PROBE_MS (bench/run.ts --fine-loop-probe: 1) samples
// finer for a dedicated run about the tails, whose CPU figures are then not written to the docs.
const LOOP_PROBE_MS = Math.max(1, Number(process.env.BENCH_LOOP_PROBE_MS ?? 20) || 20);

/** The CM's delivery hooks (src/bosh/session.ts), each published with the session: stanzas queued for a client, a response that carries them written. */
const QUEUED_CHANNEL = 'shared-bosh:stanzas-queued';
const WRITTEN_CHANNEL = 'shared-bosh:stanzas-written';

/** GC pauses of one kind in a window: count, total and longest, ms. */
export interface GcKind {
  count: number;
  totalMs: number;
  maxMs: number;
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'markSweep',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakCallbacks',
};

function gcKind(e: PerformanceEntry): string {
  const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  return (kind !== undefined ? GC_KINDS[kind] : undefined) ?? 'other';
}

/** Percentiles of a perf_hooks histogram of nanoseconds, in ms. */
function histogramMs(h: RecordableHistogram | ReturnType<typeof monitorEventLoopDelay>, offsetMs = 0): { n: number; p50Ms: number; p99Ms: number; maxMs: number } {
  const n = h.count;
  const at = (ns: number): number => (n > 0 ? Math.max(0, ns / 1e6 - offsetMs) : 0);
  return { n, p50Ms: at(h.percentile(50)), p99Ms: at(h.percentile(99)), maxMs: at(h.max) };
}

export function serveBenchIpc(server: BenchChild): void {
  const send = (m: object): void => {
    process.send!(m);
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_PROBE_MS });
  loopDelay.enable();
  let gcPauses: number[] = [];
  let gcByKind: Record<string, GcKind> = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcPauses.push(e.duration);
      const k = (gcByKind[gcKind(e)] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += e.duration;
      if (e.duration > k.maxMs) k.maxMs = e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  // Time from a stanza being queued for a client (handed over by its link, right after the
  // upstream's bytes were parsed) to the write of the response that carries it: the wait for a
  // held request, plus the synchronous work up to the write. A session's oldest unanswered stanza
  // counts; nothing is recorded when the hook has no subscriber (the CM's production path).
  const delivery = createHistogram();
  const queuedAt = new WeakMap<object, number>();
  subscribe(QUEUED_CHANNEL, (session) => {
    if (!queuedAt.has(session as object)) queuedAt.set(session as object, performance.now());
  });
  subscribe(WRITTEN_CHANNEL, (session) => {
    const t = queuedAt.get(session as object);
    if (t === undefined) return;
    queuedAt.delete(session as object);
    delivery.record(Math.max(1, Math.round((performance.now() - t) * 1e6)));
  });
  let inspector: Session | undefined;
  const post = <T>(method: string, params?: object): Promise<T> => new Promise((resolve, reject) => {
    inspector!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
  const stopAndExit = (): void => {
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };

  process.on('message', (m: { cmd: string; id?: number; file?: string }) => {
    switch (m.cmd) {
      case 'prof-start':
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
          .then(() => send({ id: m.id, profiling: true }), (err: Error) => send({ id: m.id, error: err.message }));
        return;
      case 'prof-stop':
        post<{ profile: unknown }>('Profiler.stop').then(
          async ({ profile }) => {
            writeFileSync(m.file!, JSON.stringify(profile));
            if (process.env.BENCH_HEAP_PROF === '1') {
              const heap = await post<{ profile: unknown }>('HeapProfiler.stopSampling');
              writeFileSync(m.file!.replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(heap.profile));
            }
            send({ id: m.id, file: m.file });
          },
          (err: Error) => send({ id: m.id, error: err.message }),
        );
        return;
      case 'hiccups':
        send({
          id: m.id,
          hiccups: {
            // The histogram holds the time between the probe's ticks: the delay is what exceeds the interval.
            loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_PROBE_MS),
            loopDelayMaxMs: Math.max(0, loopDelay.max / 1e6 - LOOP_PROBE_MS),
            gcPauses: gcPauses.length,
            gcMaxMs: gcPauses.length > 0 ? Math.max(...gcPauses) : 0,
            gcTotalMs: gcPauses.reduce((a, b) => a + b, 0),
            gcByKind,
            loopProbeMs: LOOP_PROBE_MS,
            loopDelay: histogramMs(loopDelay, LOOP_PROBE_MS),
            delivery: histogramMs(delivery),
          },
        });
        loopDelay.reset();
        delivery.reset();
        gcPauses = [];
        gcByKind = {};
        return;
      case 'gc':
        gc?.();
        gc?.();
        send({ id: m.id, gc: gc !== undefined });
        return;
      case 'stats':
        send({ id: m.id, stats: server.stats(), memory: process.memoryUsage(), youngGenBytes: youngGenBytes() });
        return;
      case 'stop':
        stopAndExit();
        return;
    }
  });
  process.on('disconnect', () => {
    void server.stop().finally(() => process.exit(0));
  });
}

/**
 * Resident bytes of V8's young generation (new space and its large-object space). V8 grows it
 * from 1 to 32 MiB when many objects survive scavenges (a burst of logins does that) and keeps
 * it after full GCs, so it is a per-process buffer that the RSS per idle session would otherwise
 * charge to whichever 1,000 sessions happened to make it grow.
 */
function youngGenBytes(): number {
  return getHeapSpaceStatistics()
    .filter((sp) => sp.space_name === 'new_space' || sp.space_name === 'new_large_object_space')
    .reduce((sum, sp) => sum + sp.physical_space_size, 0);
}
