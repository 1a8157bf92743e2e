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
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};
