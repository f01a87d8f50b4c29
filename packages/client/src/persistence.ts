import { isPosition, type Position, type TransportName } from '@tidings/protocol';

/** The part of the Web Storage API used: `sessionStorage`, `localStorage` or anything shaped like them. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * What a client keeps across page loads: each channel's position, so a reloaded page resumes exactly
 * where it was, and the transport that worked. Storage that fails (quota, privacy mode) only loses that.
 */
export class Persistence {
  readonly #storage: StorageLike;
  readonly #prefix: string;

  constructor(storage: StorageLike, prefix: string) {
    this.#storage = storage;
    this.#prefix = prefix;
  }

  position(channel: string): Position | undefined {
    const [epoch, offset] = (this.#get(`#${channel}`) ?? '').split(':');
    const position = { epoch, offset: Number(offset) };
    return isPosition(position) ? position : undefined;
  }

  save(channel: string, { epoch, offset }: Position): void {
    this.#set(`#${channel}`, `${epoch}:${offset}`);
  }

  forget(channel: string): void {
    this.#set(`#${channel}`);
  }

  get transport(): TransportName | undefined {
    return (this.#get('') as TransportName) ?? undefined;
  }

  set transport(name: TransportName) {
    this.#set('', name);
  }

  #get(key: string): string | null {
    try {
      return this.#storage.getItem(this.#prefix + key);
    } catch {
      return null;
    }
  }

  #set(key: string, value?: string): void {
    try {
      if (value === undefined) this.#storage.removeItem(this.#prefix + key);
      else this.#storage.setItem(this.#prefix + key, value);
    } catch {}
  }
}

/**
 * What `persist` names: a storage, or (`true`) the page's `sessionStorage` when there is one. Node has
 * none, and a browser may refuse it (a sandboxed frame throws): the client then just keeps nothing.
 */
export function storageOf(persist: StorageLike | boolean | undefined): StorageLike | undefined {
  if (persist !== true) return persist || undefined;
  try {
    return globalThis.sessionStorage;
  } catch {}
}
