/**
 * Runs the connection manager in a process of its own, so that bench/run.ts can pin it to a core
 * and read its CPU time and RSS from /proc. The config comes as JSON in BENCH_CM_CONFIG (a full
 * CmConfig); the bound URL goes back over the IPC channel, and bench/child-ipc.ts serves the
 * rest of the control channel (gc, hiccups, stats, CPU profiles, stop).
 */
import type { CmConfig } from '../src/config.js';
import { serveBenchIpc } from './child-ipc.js';

const config = JSON.parse(process.env.BENCH_CM_CONFIG ?? 'null') as CmConfig | null;
if (config === null || !process.send) {
  console.error('bench/cm-process.js runs as a child of bench/run.js (BENCH_CM_CONFIG and IPC)');
  process.exit(2);
}
const { createConnectionManager } = await import('../src/cm.js');
const cm = createConnectionManager(config);
const addr = await cm.start();
serveBenchIpc({ stats: () => cm.stats(), stop: () => cm.stop() });
process.send({ ready: true, ...addr, pid: process.pid });
