import type { Element } from '../xml/element.js';
import { StanzaError } from './errors.js';
import { KEY_NODE, NS } from './namespaces.js';
import { isValidSharedKey } from './shared-key.js';
import type { WebStorageLike } from './storage.js';
import { child, textOf, xml } from './xml.js';

// ---------------------------------------------------------------------------------------------
// Same origin: browser storage (docs/design.md D23)
// ---------------------------------------------------------------------------------------------

/** The parts of BroadcastChannel the key share uses. */
export interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  removeEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  close(): void;
}

/** The parts of `window` used to hear `storage` events from other tabs. */
export interface StorageEventTarget {
  addEventListener(type: 'storage', listener: (ev: { key: string | null; newValue: string | null }) => void): void;
  removeEventListener(type: 'storage', listener: (ev: { key: string | null; newValue: string | null }) => void): void;
}

export interface BrowserKeyShareOptions {
  /** Names the key: one per account and CM (e.g. `juliet@example.com`). */
  scope: string;
  /** @default globalThis.localStorage */
  storage?: WebStorageLike | null;
  /** @default globalThis (for `storage` events) */
  events?: StorageEventTarget | null;
  /** @default name => new BroadcastChannel(name), when available */
  channel?: ((name: string) => BroadcastChannelLike) | null;
}

type ChannelMessage = { type: 'key'; key: string | null } | { type: 'ask' };

/**
 * Shares the key between tabs of one origin (docs/shared-bosh.md §10 item 9): the key sits in
 * `localStorage` under `shared-bosh:key:<scope>`, and changes reach other tabs through the
 * `storage` event and a BroadcastChannel. A tab with no storage can still `ask()` its peers.
 */
export class BrowserKeyShare {
  readonly itemName: string;
  private readonly storage: WebStorageLike | null;
  private readonly events: StorageEventTarget | null;
  private readonly channel: BroadcastChannelLike | null;
  private readonly listeners = new Set<(key: string | null) => void>();
  /** The key this tab is using, answered to peers that ask. */
  private live: string | null = null;

  constructor(options: BrowserKeyShareOptions) {
    this.itemName = `shared-bosh:key:${options.scope}`;
    const g = globalThis as unknown as {
      localStorage?: WebStorageLike;
      addEventListener?: unknown;
      BroadcastChannel?: new (name: string) => BroadcastChannelLike;
    };
    this.storage = options.storage === undefined ? safeLocalStorage() : options.storage;
    this.events =
      options.events === undefined ? (typeof g.addEventListener === 'function' ? (globalThis as unknown as StorageEventTarget) : null) : options.events;
    const makeChannel =
      options.channel === undefined ? (g.BroadcastChannel ? (name: string) => new g.BroadcastChannel!(name) : null) : options.channel;
    this.channel = makeChannel ? makeChannel(this.itemName) : null;
    this.events?.addEventListener('storage', this.onStorage);
    this.channel?.addEventListener('message', this.onMessage);
  }

  /** The stored key, if it is a valid one. */
  get(): string | null {
    let value: string | null = null;
    try {
      value = this.storage?.getItem(this.itemName) ?? null;
    } catch {
      value = null;
    }
    return value !== null && isValidSharedKey(value) ? value : null;
  }

  /** Stores the key this tab uses and tells the other tabs. */
  set(key: string): void {
    if (!isValidSharedKey(key)) throw new RangeError('not a valid shared key (docs/design.md D2)');
    this.live = key;
    try {
      this.storage?.setItem(this.itemName, key);
    } catch {
      // storage full or forbidden: the channel still works
    }
    this.channel?.postMessage({ type: 'key', key } satisfies ChannelMessage);
  }

  /** Forgets the key (the link is gone) if it is still `key` (another tab may have stored a newer one). */
  clear(key?: string): void {
    if (key === undefined || this.live === key) this.live = null;
    if (key !== undefined && this.get() !== key) return;
    try {
      this.storage?.removeItem(this.itemName);
    } catch {
      // ignore
    }
    this.channel?.postMessage({ type: 'key', key: null } satisfies ChannelMessage);
  }

  /** Asks the other tabs for their live key over the BroadcastChannel; null when none answers. */
  ask(timeoutMs = 200, setTimer: (cb: () => void, ms: number) => unknown = setTimeout): Promise<string | null> {
    const channel = this.channel;
    if (!channel) return Promise.resolve(null);
    return new Promise((resolve) => {
      let done = false;
      const off = this.onChange((key) => {
        if (done || key === null) return;
        done = true;
        off();
        resolve(key);
      });
      setTimer(() => {
        if (done) return;
        done = true;
        off();
        resolve(null);
      }, timeoutMs);
      channel.postMessage({ type: 'ask' } satisfies ChannelMessage);
    });
  }

  /** Calls `listener` when another tab stores or clears the key. */
  onChange(listener: (key: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.events?.removeEventListener('storage', this.onStorage);
    this.channel?.removeEventListener('message', this.onMessage);
    this.channel?.close();
    this.listeners.clear();
  }

  private notify(key: string | null): void {
    if (key !== null && !isValidSharedKey(key)) return;
    for (const l of [...this.listeners]) l(key);
  }

  private readonly onStorage = (ev: { key: string | null; newValue: string | null }): void => {
    if (ev.key === this.itemName) this.notify(ev.newValue);
  };

  private readonly onMessage = (ev: { data: unknown }): void => {
    const msg = ev.data as ChannelMessage | undefined;
    if (msg?.type === 'ask') {
      if (this.live) this.channel?.postMessage({ type: 'key', key: this.live } satisfies ChannelMessage);
    } else if (msg?.type === 'key') {
      this.notify(msg.key);
    }
  };
}

function safeLocalStorage(): WebStorageLike | null {
  try {
    return (globalThis as unknown as { localStorage?: WebStorageLike }).localStorage ?? null;
  } catch {
    return null; // SecurityError in sandboxed frames
  }
}

// ---------------------------------------------------------------------------------------------
// Other origins and devices: the XMPP server (ProtoXEP §6.2: XEP-0163/XEP-0223, XEP-0049)
// ---------------------------------------------------------------------------------------------

/** Sends an IQ get/set and resolves with the result (rejects with StanzaError on `type='error'`). */
export type IqSender = (iq: Element) => Promise<Element>;

/** Somewhere on the user's server that only the user can read the key from. */
export interface ServerKeyStore {
  readonly kind: 'pep' | 'private' | 'auto';
  fetch(): Promise<string | null>;
  publish(key: string): Promise<void>;
  /** Removes the stored key if it is still `key`. */
  clear(key: string): Promise<void>;
}

let idCounter = 0;
const nextId = (prefix: string) => `${prefix}${(++idCounter).toString(36)}`;

function keyElement(key?: string): Element {
  return xml('key', { xmlns: NS.SHARED }, key);
}

function readKey(parent: Element | undefined): string | null {
  const keyEl = parent && child(parent, 'key', NS.SHARED);
  const key = keyEl ? textOf(keyEl).trim() : '';
  return isValidSharedKey(key) ? key : null;
}

/** Conditions that mean "nothing stored here" rather than a failure. */
const ABSENT = new Set(['item-not-found']);

/**
 * XEP-0223: the key as item `current` of a private PEP node, published with publish-options
 * `pubsub#access_model=whitelist` (only the owner may read) and `pubsub#persist_items=true`.
 */
export class PepKeyStore implements ServerKeyStore {
  readonly kind = 'pep' as const;
  constructor(
    private readonly iq: IqSender,
    readonly node: string = KEY_NODE,
  ) {}

  async fetch(): Promise<string | null> {
    try {
      const result = await this.iq(
        xml('iq', { type: 'get', id: nextId('pepk'), xmlns: NS.CLIENT },
          xml('pubsub', { xmlns: NS.PUBSUB }, xml('items', { node: this.node }, xml('item', { id: 'current' })))),
      );
      const items = child(child(result, 'pubsub', NS.PUBSUB) ?? result, 'items');
      const item = items?.elements().find((i) => i.localName === 'item');
      return readKey(item);
    } catch (err) {
      if (err instanceof StanzaError && ABSENT.has(err.condition)) return null;
      throw err;
    }
  }

  async publish(key: string): Promise<void> {
    const field = (name: string, value: string, type?: string) => xml('field', { var: name, type }, xml('value', {}, value));
    await this.iq(
      xml('iq', { type: 'set', id: nextId('pepk'), xmlns: NS.CLIENT },
        xml('pubsub', { xmlns: NS.PUBSUB },
          xml('publish', { node: this.node }, xml('item', { id: 'current' }, keyElement(key))),
          xml('publish-options', {},
            xml('x', { xmlns: NS.DATA_FORMS, type: 'submit' },
              field('FORM_TYPE', NS.PUBSUB_PUBLISH_OPTIONS, 'hidden'),
              field('pubsub#persist_items', 'true'),
              field('pubsub#access_model', 'whitelist'))))),
    );
  }

  async clear(key: string): Promise<void> {
    if ((await this.fetch()) !== key) return;
    await this.iq(
      xml('iq', { type: 'set', id: nextId('pepk'), xmlns: NS.CLIENT },
        xml('pubsub', { xmlns: NS.PUBSUB }, xml('retract', { node: this.node }, xml('item', { id: 'current' })))),
    );
  }
}

/** XEP-0049: `<query xmlns='jabber:iq:private'><key xmlns='urn:xmpp:tmp:shared-bosh:0'>K</key></query>`. */
export class PrivateXmlKeyStore implements ServerKeyStore {
  readonly kind = 'private' as const;
  constructor(private readonly iq: IqSender) {}

  async fetch(): Promise<string | null> {
    try {
      const result = await this.iq(
        xml('iq', { type: 'get', id: nextId('prvk'), xmlns: NS.CLIENT }, xml('query', { xmlns: NS.PRIVATE }, keyElement())),
      );
      return readKey(child(result, 'query', NS.PRIVATE));
    } catch (err) {
      if (err instanceof StanzaError && ABSENT.has(err.condition)) return null;
      throw err;
    }
  }

  async publish(key: string): Promise<void> {
    await this.iq(xml('iq', { type: 'set', id: nextId('prvk'), xmlns: NS.CLIENT }, xml('query', { xmlns: NS.PRIVATE }, keyElement(key))));
  }

  async clear(key: string): Promise<void> {
    if ((await this.fetch()) !== key) return;
    await this.iq(xml('iq', { type: 'set', id: nextId('prvk'), xmlns: NS.CLIENT }, xml('query', { xmlns: NS.PRIVATE }, keyElement())));
  }
}

/**
 * PEP when the account advertises `pubsub#publish-options` (XEP-0223 §3 requires it for the
 * access model to be enforced), XEP-0049 private storage otherwise. Reads try both, so keys
 * published by clients that made the other choice are found too.
 */
export class AutoKeyStore implements ServerKeyStore {
  private chosen: Promise<ServerKeyStore> | undefined;
  private readonly pep: PepKeyStore;
  private readonly priv: PrivateXmlKeyStore;

  constructor(
    private readonly iq: IqSender,
    private readonly bareJid: string,
  ) {
    this.pep = new PepKeyStore(iq);
    this.priv = new PrivateXmlKeyStore(iq);
  }

  readonly kind = 'auto' as const;

  /** disco#info on the account (XEP-0163 §4): PEP with publish-options, or private storage. */
  store(): Promise<ServerKeyStore> {
    this.chosen ??= (async () => {
      try {
        const info = await this.iq(
          xml('iq', { type: 'get', id: nextId('disco'), to: this.bareJid, xmlns: NS.CLIENT }, xml('query', { xmlns: NS.DISCO_INFO })),
        );
        const query = child(info, 'query', NS.DISCO_INFO);
        const features = (query?.elements() ?? []).filter((f) => f.localName === 'feature').map((f) => f.attrs.var);
        const identities = (query?.elements() ?? []).filter((i) => i.localName === 'identity');
        const pep = identities.some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep');
        return pep && features.includes(NS.PUBSUB_PUBLISH_OPTIONS) ? this.pep : this.priv;
      } catch {
        return this.priv;
      }
    })();
    return this.chosen;
  }

  async fetch(): Promise<string | null> {
    const store = await this.store();
    const found = await store.fetch().catch(() => null);
    if (found || store === this.priv) return found;
    return this.priv.fetch().catch(() => null);
  }

  async publish(key: string): Promise<void> {
    const store = await this.store();
    try {
      await store.publish(key);
    } catch (err) {
      // publish-options refused (precondition-not-met, not-acceptable, ...): never publish the
      // key to a node that might be readable by others; use private storage instead.
      if (store !== this.pep || !(err instanceof StanzaError)) throw err;
      this.chosen = Promise.resolve(this.priv);
      await this.priv.publish(key);
    }
  }

  async clear(key: string): Promise<void> {
    await (await this.store()).clear(key);
  }
}
