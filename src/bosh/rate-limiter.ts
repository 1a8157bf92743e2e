import type { Clock } from '../clock.js';

/**
 * A token bucket per key (client address): `burst` tokens, refilled at `perMinute`.
 * docs/design.md D3: session creation is rate-limited per address, so key guessing costs time.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for `key`; false when none is left. perMinute 0 disables the limit. */
  take(key: string): boolean {
    if (this.perMinute <= 0) return true;
    const now = this.clock.now();
    const capacity = Math.max(1, this.burst);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.evictFull(now, capacity);
      bucket = { tokens: capacity, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) * this.perMinute) / 60_000);
      bucket.at = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Forget buckets that have refilled completely (they hold no information). */
  private evictFull(now: number, capacity: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.perMinute) / 60_000 >= capacity) this.buckets.delete(key);
    }
    // Still full of active addresses: drop the oldest, the limit stays approximately right.
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
