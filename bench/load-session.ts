/**
 * What the load generator's two kinds of session share (bench/bosh-client.ts over BOSH,
 * bench/xmpp-client.ts over plain XMPP/TCP): the online/lost/closing state and the waiters of
 * login steps, which fail together when the session is lost.
 */
export interface Waiter {
  re: RegExp;
  resolve: (text: string) => void;
  reject: (err: Error) => void;
}

export abstract class LoadSessionBase<S> {
  online = false;
  closing = false;
  /** Why the session ended without close(), once it did. */
  lost: string | undefined;
  protected waiters: Waiter[] = [];

  constructor(private readonly onLostSession?: (s: S, reason: string) => void) {}

  /** The session ended without close(): rejects every waiter and reports it once. */
  protected markLost(reason: string): void {
    if (this.lost !== undefined || this.closing) return;
    this.lost = reason;
    this.online = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new Error(`session lost: ${reason}`));
    this.onLostSession?.(this as unknown as S, reason);
  }
}
