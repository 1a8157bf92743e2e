import type { FetchLike } from '../../../src/client/bosh-transport.js';

/** One HTTP request made through ManualFetch; the test answers it. */
export interface ManualCall {
  body: string;
  rid: number;
  aborted: boolean;
  answered: boolean;
  respond(text: string, status?: number): void;
  fail(message?: string): void;
}

/** A fetch whose requests wait until the test answers them: rid and retry rules, step by step. */
export class ManualFetch {
  readonly calls: ManualCall[] = [];

  readonly fetch: FetchLike = (_url, init) =>
    new Promise((resolve, reject) => {
      const match = /\brid='(\d+)'/.exec(init.body);
      const call: ManualCall = {
        body: init.body,
        rid: match ? Number(match[1]) : NaN,
        aborted: false,
        answered: false,
        respond(text, status = 200) {
          if (call.answered || call.aborted) return;
          call.answered = true;
          resolve({ status, text: async () => text });
        },
        fail(message = 'network error') {
          if (call.answered || call.aborted) return;
          call.answered = true;
          reject(new TypeError(message));
        },
      };
      init.signal.addEventListener('abort', () => {
        if (call.answered) return;
        call.aborted = true;
        reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      });
      this.calls.push(call);
    });

  /** Requests neither answered nor aborted, oldest first. */
  get open(): ManualCall[] {
    return this.calls.filter((c) => !c.answered && !c.aborted);
  }

  get last(): ManualCall {
    const c = this.calls[this.calls.length - 1];
    if (!c) throw new Error('no request made');
    return c;
  }
}

/** Lets promise callbacks and queued microtasks run (a few macrotask turns, no real waiting). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
