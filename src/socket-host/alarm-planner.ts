/**
 * The one alarm of an object that holds sockets: token expiries, heartbeats and lease renewals
 * all fold into it, and it is written only when it must move earlier, so a socket connecting
 * or a token being refreshed costs no storage write in the common case.
 *
 * Token expiries are bucketed: an expiry is planned at the end of its EXPIRY_BUCKET_MS window
 * (rounded up), so thousands of staggered tokens wake the object at most once a bucket rather
 * than once a token. Rounding up, not down, keeps a socket from being closed before its token
 * ends; what it could receive in between is cut off elsewhere: the socket host checks the
 * expiry on every inbound frame (inbound.ts) and before every event it sends (the hubs' emit),
 * so an expired socket gets nothing past its token's expiry, only its close comes up to a
 * bucket later when it is idle. 30 s matches the clock tolerance tokens already get.
 */

export const EXPIRY_BUCKET_MS = 30_000;

/** When an expiry at `at` is planned: the end of its bucket. */
export function expiryAlarmAt(at: number): number {
  return Math.ceil(at / EXPIRY_BUCKET_MS) * EXPIRY_BUCKET_MS;
}

export class AlarmPlanner {
  /** When the alarm is set for, as far as this instance knows; null when none (or unknown). */
  #at: number | null = null;

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

  /** A token expiry, bucketed. */
  expiry(at: number): void {
    this.by(expiryAlarmAt(at));
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
