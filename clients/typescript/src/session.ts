import type { AuthResponse, TokenPair } from "./generated/index.js";
import type { TokenStore } from "./stores.js";
import {
  abortable,
  failure,
  jsonOf,
  ok,
  problemOf,
  succeeded,
  type Answer,
  type Call,
  type StreamAnswer,
  type Transport,
} from "./transport.js";

/** Codes after which a refresh may help. */
const REFRESHABLE = new Set(["token-expired", "unauthenticated"]);

/**
 * The signed-in session: its tokens in the store, the refresh shared by every
 * call that needs it, and which session each call and refresh belongs to.
 *
 * The store may be asynchronous, so nothing here relies on a read and a write
 * being one step: writes are queued one at a time, reads wait for the queued
 * writes, and every sign-in and sign-out moves an epoch, checked synchronously
 * right before any write that work begun under an older epoch would make.
 */
export class Session {
  readonly store: TokenStore;
  readonly #transport: Transport;
  readonly #onEnded: (() => void) | undefined;
  /** The store's writes, one after the other. */
  #writes: Promise<void> = Promise.resolve();
  /** Counts sign-ins and sign-outs: work begun under another epoch was for another session. */
  #epoch = 0;
  /** The refresh in flight, shared by every caller. */
  #refreshing: Promise<boolean> | null = null;
  /** Counts refreshes begun, so a call can tell whether one began after it was sent. */
  #refreshes = 0;
  /** The latest refresh, in flight or settled. */
  #lastRefresh: Promise<boolean> = Promise.resolve(false);

  constructor(store: TokenStore, transport: Transport, onEnded: (() => void) | undefined) {
    this.store = store;
    this.#transport = transport;
    this.#onEnded = onEnded;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The tokens, once the writes the client has queued are done. */
  async read(): Promise<TokenPair | null> {
    await this.#writes;
    return (await this.store.get()) ?? null;
  }

  #write(value: TokenPair | null): Promise<void> {
    const written = this.#writes.then(() => this.store.set(value));
    this.#writes = written.then(
      () => undefined,
      () => undefined,
    );
    return written.then(() => undefined);
  }

  /** Signed in (register, login, OAuth exchange): these tokens replace any others. */
  async signIn(signedIn: AuthResponse): Promise<void> {
    this.#epoch++;
    await this.#write(signedIn.tokens);
  }

  /** Signed out on purpose: forgets the tokens, unless a sign-in or sign-out since `epoch` replaced them. */
  async signOut(epoch: number): Promise<void> {
    if (this.#epoch !== epoch) return;
    this.#epoch++;
    await this.#write(null);
  }

  /** The session is over for good (revoked, or its refresh refused): forget it and say so. */
  async #end(): Promise<void> {
    this.#epoch++;
    await this.#write(null);
    this.#onEnded?.();
  }

  /**
   * One refresh at a time, shared by every caller that needs it. Resolves with
   * whether there are tokens to retry with: false once the session has ended
   * (the refresh token was refused). A failure that says nothing about the
   * session (rate limited, server unavailable, network) rejects and keeps the
   * tokens. Tokens that changed meanwhile (a sign-in, a sign-out) are left alone.
   */
  refresh(): Promise<boolean> {
    if (this.#refreshing) return this.#refreshing;
    this.#refreshes++;
    const refreshing = this.#refreshOnce(this.#epoch).finally(() => {
      this.#refreshing = null;
    });
    // A caller that stopped waiting (aborted) leaves no unhandled rejection behind.
    refreshing.catch(() => undefined);
    this.#refreshing = refreshing;
    this.#lastRefresh = refreshing;
    return refreshing;
  }

  async #refreshOnce(epoch: number): Promise<boolean> {
    const current = await this.read();
    if (!current) return false;
    const answer = await this.#transport.send(
      { method: "POST", path: "/api/v2/auth/refresh", json: { refresh_token: current.refresh_token } },
      null,
    );
    if (!succeeded(answer) && answer.status !== 401 && answer.status !== 403) throw failure(answer);
    const refreshed = succeeded(answer) ? jsonOf<AuthResponse>(answer) : null;
    const now = await this.read();
    // Another sign-in or sign-out meanwhile wins: its tokens stay as they are.
    if (this.#epoch !== epoch || now?.refresh_token !== current.refresh_token) return now !== null;
    if (refreshed) {
      await this.#write(refreshed.tokens);
      return true;
    }
    await this.#end();
    return false;
  }

  /**
   * Sends a call, with the access token unless it is anonymous. A signed-in call
   * whose token has expired waits for a refresh and is retried once, only as the
   * session it was made for. Resolves with a success answer; rejects with its
   * `ApiError` otherwise.
   */
  call(call: Call): Promise<Answer> {
    return this.#call(call, (c, token) => this.#transport.send(c, token));
  }

  /** As `call`, but a success answer's body is left to be read as it arrives (`Transport.open`). */
  open(call: Call): Promise<StreamAnswer> {
    return this.#call(call, (c, token) => this.#transport.open(c, token));
  }

  async #call<A extends Answer>(call: Call, send: (call: Call, token: string | null) => Promise<A>): Promise<A> {
    if (call.authenticated === false) return ok(await send(call, null));
    const epoch = this.#epoch;
    const refreshes = this.#refreshes;
    const token = (await this.read())?.access_token ?? null;
    const answer = await send(call, token);
    if (answer.status !== 401 || token === null || this.#epoch !== epoch) return ok(answer);
    const problem = problemOf(answer);
    if (problem?.code === "session-revoked") {
      // Only if it is still this session: a sign-in may have replaced it meanwhile.
      const now = await this.read();
      if (this.#epoch === epoch && now?.access_token === token) await this.#end();
      throw failure(answer);
    }
    if (!problem || !REFRESHABLE.has(problem.code)) throw failure(answer);
    // Tokens replaced while this call was in flight (a refresh finished) are used
    // as they are; a refresh begun after it was sent is the one to wait for.
    const now = await this.read();
    const usable =
      now?.access_token !== token
        ? now !== null
        : await abortable(this.#refreshes === refreshes ? this.refresh() : this.#lastRefresh, call.signal);
    if (!usable) throw failure(answer);
    // Retried only as the account it was made for: after a sign-out and another
    // sign-in meanwhile, a create or a message must not land in the new account.
    const fresh = await this.read();
    if (this.#epoch !== epoch || !fresh) throw failure(answer);
    return ok(await send(call, fresh.access_token));
  }
}
