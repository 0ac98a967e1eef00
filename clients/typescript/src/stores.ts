import type { TokenPair } from "./generated/index.js";

/** A value now, or a promise of it. */
export type MaybePromise<T> = T | PromiseLike<T>;

/**
 * A slot for one value the client keeps between calls. `get` and `set` may
 * answer at once (memory, `localStorage`) or with a promise (IndexedDB, React
 * Native storage): the client awaits them, makes one `set` at a time in the
 * order it decided them, and reads only once its own writes are done.
 */
export interface Store<T> {
  get(): MaybePromise<T | null>;
  /** Replaces the value; `null` clears the slot. */
  set(value: T | null): MaybePromise<void>;
}

/** A value in memory: gone with the page. */
export class MemoryStore<T> implements Store<T> {
  #value: T | null = null;
  get(): T | null {
    return this.#value;
  }
  set(value: T | null): void {
    this.#value = value;
  }
}

/** Where the client keeps the signed-in user's tokens. */
export type TokenStore = Store<TokenPair>;

/** Tokens in memory: gone with the page. Persist them in your own store if you need to. */
export class MemoryTokenStore extends MemoryStore<TokenPair> {}

/**
 * Where the PKCE verifier of a provider sign-in waits between `auth.startSignIn`
 * (before the browser leaves for the provider) and `auth.exchange` (when it is
 * back): it must survive that navigation, in this tab only. `sessionStorage` is
 * per origin: `redirect_to` must come back to the origin that started the sign-in.
 */
export type VerifierStore = Store<string>;

/** `sessionStorage` (per tab, survives the provider round trip): the browser default. */
export class SessionVerifierStore implements VerifierStore {
  readonly #key: string;
  constructor(key = "devora.oauth.verifier") {
    this.#key = key;
  }
  get(): string | null {
    return sessionStorage.getItem(this.#key);
  }
  set(verifier: string | null): void {
    if (verifier === null) sessionStorage.removeItem(this.#key);
    else sessionStorage.setItem(this.#key, verifier);
  }
}

/** A verifier in memory: for environments without `sessionStorage` (servers, tests). */
export class MemoryVerifierStore extends MemoryStore<string> {}
