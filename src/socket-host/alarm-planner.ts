/**
 * The one alarm of an object that holds sockets: token expiries, heartbeats and lease renewals
 * all fold into it, and it is written only when it must move earlier, so a socket connecting
 * or a token being refreshed costs no storage write in the common case.
 *
 * Token expiries are spaced: after an alarm that closed expired sockets, the next expiry is
 * planned no sooner than EXPIRY_SPACING_MS later, so thousands of staggered tokens wake the
 * object at most once per spacing rather than once per token (each wake scans every socket).
 * An expiry with none before it in the spacing is planned at its own time: a lone socket is
 * closed when its access ends, as docs/PROTOCOL.md says. A fixed grid (rounding every expiry
 * up to a bucket) would close even that one up to a bucket late. Either way, nothing reaches a
 * socket past its token's expiry: the socket host checks the expiry on every inbound frame
 * (inbound.ts) and before every event it sends unasked (the hubs' emit), and ends the socket
 * there; only the close of an idle socket can come up to a spacing late, under load. 30 s
 * matches the clock tolerance tokens already get.
 */

export const EXPIRY_SPACING_MS = 30_000;

export class AlarmPlanner {
  /** When the alarm is set for, as far as this instance knows; null when none (or unknown). */
  #at: number | null = null;
  /** When an alarm last closed expired sockets (in memory: a wake starts with none). */
  #expiredAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly storage: DurableObjectStorage) {}

  /**
   * After a wake: every plan was folded into the stored alarm when it was made, so it is due
   * no later than `at`. Knowing it saves a storage write per wake.
   */
  assume(at: number): void {
    this.#at = Number.isFinite(at) ? at : null;
  }

  /** The alarm ran: nothing is planned until the next {@link by}. */
  fired(): void {
    this.#at = null;
  }

  /** The alarm running at `now` closed expired sockets: the next expiry waits a spacing. */
  expired(now: number): void {
    this.#expiredAt = now;
  }

  /** When a token expiry at `at` is planned. */
  expiryAt(at: number): number {
    return Math.max(at, this.#expiredAt + EXPIRY_SPACING_MS);
  }

  /** Plans a token expiry. */
  expiry(at: number): void {
    this.by(this.expiryAt(at));
  }

  /** Sets the alarm for `at` unless it is already due no later. */
  by(at: number): void {
    if (!Number.isFinite(at)) return;
    if (this.#at !== null && this.#at <= at) return;
    this.#at = at;
    // Not awaited, so callers stay synchronous: the output gate holds replies until the write
    // lands. A failed write is not assumed to have happened, so the next plan writes again.
    this.storage.setAlarm(at).catch((error: unknown) => {
      if (this.#at === at) this.#at = null;
      console.error("setting the alarm failed; the next plan retries", error);
    });
  }
}
