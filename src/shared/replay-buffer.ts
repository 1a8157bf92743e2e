import type { Clock } from '../clock.js';
import type { Element } from '../xml/element.js';

/** One event of a link's total order (D10): an inbound stanza or a member's echoed stanza. */
export interface LinkEvent {
  seq: number;
  /** The stanza, stripped of shared marks (D25); an echo's carries the bound JID as `from`. */
  element: Element;
  /** A member's stanza (or the result of a member's IQ), which others see as an echo (D11, D12). */
  echo: boolean;
  /** The stanza as members other than its origin see it, marked `shared:echo` where `echo`. */
  xml: string;
  at: number;
}

/**
 * docs/design.md D14b: the last events of a link, bounded by count and age, so a re-attaching member
 * can get what it missed after `shared:since`.
 */
export class ReplayBuffer {
  private events: LinkEvent[] = [];
  private start = 0;
  /** The highest seq ever pushed (0 before the first event). */
  lastSeq = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxAgeMs: number,
    private readonly clock: Clock,
  ) {}

  push(element: Element, echo: boolean, xml: string): LinkEvent {
    const event: LinkEvent = { seq: ++this.lastSeq, element, echo, xml, at: this.clock.now() };
    if (this.maxEvents > 0) {
      this.events.push(event);
      this.prune();
    }
    return event;
  }

  /** Events after `since`; `gap` when some of them are no longer kept. */
  after(since: number): { events: LinkEvent[]; gap: boolean } {
    this.prune();
    const kept = this.events.length - this.start;
    const oldest = kept > 0 ? this.events[this.start]!.seq : this.lastSeq + 1;
    const gap = since + 1 < oldest;
    const events: LinkEvent[] = [];
    for (let i = this.start; i < this.events.length; i++) if (this.events[i]!.seq > since) events.push(this.events[i]!);
    return { events, gap };
  }

  private prune(): void {
    const cutoff = this.clock.now() - this.maxAgeMs;
    while (this.start < this.events.length && (this.events.length - this.start > this.maxEvents || this.events[this.start]!.at < cutoff)) {
      this.start += 1;
    }
    // Compact now and then, so the array does not grow without bound.
    if (this.start > 1024 && this.start * 2 > this.events.length) {
      this.events = this.events.slice(this.start);
      this.start = 0;
    }
  }
}
