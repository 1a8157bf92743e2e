import type { Element } from '../xml/element.js';

/**
 * docs/design.md D14: the presence state a newly attached member starts from: the latest available
 * presence per full JID seen inbound, and the last undirected presence a member sent.
 */
export class PresenceSnapshot {
  private readonly inbound = new Map<string, Element>();
  private own: Element | undefined;

  observeInbound(el: Element): void {
    const from = el.attrs.from;
    if (el.name !== 'presence' || from === undefined) return;
    const type = el.attrs.type;
    if (type === undefined) this.inbound.set(from, el);
    else if (type === 'unavailable' || type === 'error') this.inbound.delete(from);
  }

  /** A member's stanza as the other members saw it (before its echo mark, D11). */
  observeOwn(el: Element): void {
    if (el.name !== 'presence' || el.attrs.to !== undefined) return;
    this.own = el.attrs.type === undefined ? el : undefined;
  }

  /** The members' own presence first (an echo), then everyone else's. */
  entries(): Array<{ element: Element; echo: boolean }> {
    const out: Array<{ element: Element; echo: boolean }> = [];
    if (this.own) out.push({ element: this.own, echo: true });
    for (const element of this.inbound.values()) out.push({ element, echo: false });
    return out;
  }
}
