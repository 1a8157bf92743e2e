/**
 * Time as the CM sees it. Every class that schedules takes a Clock so tests can drive time
 * with a fake one instead of sleeping on real timers.
 */
export interface TimerHandle {
  /** Cancels the timer; calling it again, or after the timer fired, does nothing. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since an arbitrary origin; only differences are meaningful. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
}

export const systemClock: Clock = {
  // Whole milliseconds: every rule timed with it is in ms or s, and an integer is stored in a
  // field as it is, where a fractional number takes a heap number of 16 bytes (an idle session
  // keeps about ten times: deadlines, arrival and answer times).
  now: () => Math.floor(performance.now()),
  setTimeout: (callback, delayMs) => new SystemTimer(setTimeout(callback, delayMs)),
};

/** A handle without a closure of its own. */
class SystemTimer implements TimerHandle {
  constructor(private readonly timer: NodeJS.Timeout) {}

  cancel(): void {
    clearTimeout(this.timer);
  }
}

/**
 * A deadline that is cheap to move and to clear: the hot path (every BOSH request moves a
 * session's wait and inactivity deadlines) only writes a number. It has no timer of its own:
 * every Deadline of a clock waits in that clock's DeadlineQueue, under the time it was queued
 * for. When that time comes before the current deadline (which moved later), it is queued again
 * for the rest; when the deadline was cleared meanwhile, nothing happens.
 */
/** Whoever a Deadline tells when it expires: an object with several deadlines needs no closure per deadline. */
export interface DeadlineOwner {
  deadlineExpired(deadline: Deadline): void;
}

export class Deadline {
  private at: number | undefined;
  /** The queue's bookkeeping: when this entry is due (if queued), its tie-breaker and heap slot (-1: not queued). */
  due = 0;
  seq = 0;
  slot = -1;
  private readonly queue: DeadlineQueue;

  constructor(
    clock: Clock,
    /** A callback, or an owner told which of its deadlines expired (about 100 bytes less each than a closure and its context). */
    private readonly onExpire: (() => void) | DeadlineOwner,
  ) {
    this.queue = queueOf(clock);
  }

  /** Whether a deadline is set. */
  get set(): boolean {
    return this.at !== undefined;
  }

  /** Sets (or moves) the deadline to `at` (clock time). */
  setAt(at: number): void {
    this.at = at;
    if (this.slot < 0 || at < this.due) this.queue.put(this, at);
  }

  /** No deadline; the entry stays queued until its time or until the deadline is cancelled. */
  clear(): void {
    this.at = undefined;
  }

  /** No deadline and nothing queued (for good: the owner is going away). */
  cancel(): void {
    this.at = undefined;
    this.queue.remove(this);
  }

  /** Called by the queue at `due`: expires, or is queued again for a deadline moved later. */
  reached(now: number): void {
    const at = this.at;
    if (at === undefined) return;
    if (now >= at) {
      this.at = undefined;
      const onExpire = this.onExpire;
      if (typeof onExpire === 'function') onExpire();
      else onExpire.deadlineExpired(this);
    } else {
      this.queue.put(this, at);
    }
  }
}

const queues = new WeakMap<Clock, DeadlineQueue>();

function queueOf(clock: Clock): DeadlineQueue {
  let queue = queues.get(clock);
  if (!queue) {
    queue = new DeadlineQueue(clock);
    queues.set(clock, queue);
  }
  return queue;
}

/**
 * Every Deadline of one clock on ONE timer: a binary heap by due time (ties in the order they
 * were queued), the timer armed for the earliest. A timer of its own cost each deadline about
 * 250 bytes (node's Timeout, its closure and handle); an idle session had three (wait,
 * inactivity, its link's ping), which with 10,000 sessions is 7 MiB. Deadlines fire at exactly
 * their time, as with a timer each.
 */
class DeadlineQueue {
  private readonly heap: Deadline[] = [];
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private seq = 0;
  /** While fire() runs its due entries: the timer is armed once, after them. */
  private firing = false;

  constructor(private readonly clock: Clock) {}

  /** Queues `d` for `due`, or moves it there if it is queued already. */
  put(d: Deadline, due: number): void {
    d.due = due;
    d.seq = ++this.seq;
    if (d.slot < 0) {
      d.slot = this.heap.length;
      this.heap.push(d);
    }
    // New at the bottom, or queued already and only ever moved earlier (Deadline.setAt): up is enough.
    this.up(d.slot);
    this.rearm();
  }

  remove(d: Deadline): void {
    if (d.slot < 0) return;
    this.detach(d);
    this.rearm();
  }

  private detach(d: Deadline): void {
    const at = d.slot;
    d.slot = -1;
    const last = this.heap.pop()!;
    if (last !== d) {
      this.heap[at] = last;
      last.slot = at;
      this.down(at);
      this.up(last.slot);
    }
  }

  private rearm(): void {
    if (this.firing) return;
    const first = this.heap[0];
    const at = first ? first.due : Infinity;
    if (at === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = at;
    if (first) this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let failure: { err: unknown } | undefined;
    this.firing = true;
    // Entries queued by the callbacks themselves wait for the next turn, as a timer of 0 ms would.
    const last = this.seq;
    for (let first = this.heap[0]; first !== undefined && first.due <= now && first.seq <= last; first = this.heap[0]) {
      this.detach(first);
      try {
        first.reached(now);
      } catch (err) {
        // One owner's exception must not stop the others' deadlines; it surfaces afterwards,
        // as it would have from a timer of its own.
        failure ??= { err };
      }
    }
    this.firing = false;
    this.rearm();
    if (failure) throw failure.err;
  }

  private before(a: Deadline, b: Deadline): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private up(i: number): void {
    const heap = this.heap;
    const d = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!this.before(d, p)) break;
      heap[i] = p;
      p.slot = i;
      i = parent;
    }
    heap[i] = d;
    d.slot = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const d = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(heap[right]!, heap[left]!) ? right : left;
      const c = heap[child]!;
      if (!this.before(c, d)) break;
      heap[i] = c;
      c.slot = i;
      i = child;
    }
    heap[i] = d;
    d.slot = i;
  }
}
