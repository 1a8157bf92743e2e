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
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => new SystemTimer(setTimeout(callback, delayMs)),
};

/** A handle without a closure of its own: sessions keep one or two armed for their whole life. */
class SystemTimer implements TimerHandle {
  constructor(private readonly timer: NodeJS.Timeout) {}

  cancel(): void {
    clearTimeout(this.timer);
  }
}

/**
 * A deadline that is cheap to move and to clear: the hot path (every BOSH request moves a
 * session's wait and inactivity deadlines) only writes a number. One real timer is armed at a
 * time; when it fires before the current deadline (which moved later), it re-arms itself for
 * the rest, and when the deadline was cleared meanwhile it does nothing.
 */
export class Deadline {
  private at: number | undefined;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onExpire: () => void,
  ) {}

  /** Whether a deadline is set. */
  get set(): boolean {
    return this.at !== undefined;
  }

  /** Sets (or moves) the deadline to `at` (clock time). */
  setAt(at: number): void {
    this.at = at;
    if (this.timer === undefined || at < this.timerAt) {
      this.timer?.cancel();
      this.arm(at);
    }
  }

  /** No deadline; the armed timer, if any, stays until it fires or the deadline is cancelled. */
  clear(): void {
    this.at = undefined;
  }

  /** No deadline and no timer (for good: the owner is going away). */
  cancel(): void {
    this.at = undefined;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const at = this.at;
    if (at === undefined) return;
    if (this.clock.now() >= at) {
      this.at = undefined;
      this.onExpire();
    } else {
      this.arm(at);
    }
  }
}
