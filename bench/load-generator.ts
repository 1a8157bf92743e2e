/** The orchestrator's side of the load generator process (bench/loadgen.ts): commands over IPC. */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { HERE, spawnPinned, waitMessage } from './children.js';

export class LoadGen {
  private seq = 0;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  constructor(readonly child: ChildProcess, readonly pid: number) {
    child.on('message', (m: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`loadgen: ${m.error}`));
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`loadgen exited (${code})`));
      this.pending.clear();
    });
  }

  call<T>(command: Record<string, unknown>, timeoutMs = 15 * 60_000): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`loadgen ${String(command.cmd)}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolvePromise(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      // Once the generator is gone (killed at the time limit), reject instead of letting send()
      // emit an unhandled 'error' that would end this process before the servers are stopped.
      if (!this.child.connected) {
        this.pending.get(id)?.reject(new Error(`loadgen ${String(command.cmd)}: the load generator is gone`));
        return;
      }
      this.child.send({ id, command }, (err) => {
        if (err) this.pending.get(id)?.reject(new Error(`loadgen ${String(command.cmd)}: ${err.message}`));
      });
    });
  }

  /** `script`: bench/loadgen.js, or another generator speaking the same IPC (bench/tabs-loadgen.js). */
  static async start(core: number, maxSockets: number, script = 'loadgen.js'): Promise<LoadGen> {
    const child = spawnPinned(core, [], join(HERE, script), { env: { ...process.env, BENCH_MAX_SOCKETS: String(maxSockets) } });
    const ready = await waitMessage(child, (m): m is { ready: true; pid: number } => (m as { ready?: boolean }).ready === true, 15_000, 'loadgen');
    return new LoadGen(child, ready.pid);
  }
}
