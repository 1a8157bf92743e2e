/**
 * Where the client keeps what must outlive a page (D23): a small string key/value store.
 * `webStorage(sessionStorage)` in browsers (per tab, survives reloads), `MemoryStore` in Node.
 */
export interface KeyValueStore {
  get(name: string): string | null;
  set(name: string, value: string): void;
  remove(name: string): void;
}

export class MemoryStore implements KeyValueStore {
  private readonly data = new Map<string, string>();
  get(name: string): string | null {
    return this.data.get(name) ?? null;
  }
  set(name: string, value: string): void {
    this.data.set(name, value);
  }
  remove(name: string): void {
    this.data.delete(name);
  }
}

/** The Web Storage shape (`sessionStorage`, `localStorage`). */
export interface WebStorageLike {
  getItem(name: string): string | null;
  setItem(name: string, value: string): void;
  removeItem(name: string): void;
}

/** Adapts `sessionStorage`/`localStorage`; a full or forbidden storage (private mode) is ignored. */
export function webStorage(storage: WebStorageLike): KeyValueStore {
  return {
    get: (name) => {
      try {
        return storage.getItem(name);
      } catch {
        return null;
      }
    },
    set: (name, value) => {
      try {
        storage.setItem(name, value);
      } catch {
        // QuotaExceededError or SecurityError: resuming is best effort.
      }
    },
    remove: (name) => {
      try {
        storage.removeItem(name);
      } catch {
        // as above
      }
    },
  };
}
