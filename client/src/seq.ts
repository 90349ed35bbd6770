/**
 * Per-subscription `seq` bookkeeping, pure: which channel events to deliver, which are
 * duplicates, and when a jump in `seq` means events were missed (docs/PROTOCOL.md "Ordering,
 * seq and recovery").
 */

/**
 * - `deliver`: the next event; hand it to the application.
 * - `duplicate`: at or below the last delivered seq; drop it.
 * - `gap`: events are missing before it; drop it and resubscribe with `since_seq` = {@link SeqTracker.last}.
 * - `drop`: a recovery is under way; the resubscription replays this event, so drop it now.
 */
export type SeqVerdict = "deliver" | "duplicate" | "gap" | "drop";

export class SeqTracker {
  /** The seq of the last event delivered (or the baseline of the last subscription), null before any. */
  last: number | null = null;
  /** After a fresh baseline: the seq the latest-state event carries, delivered once. */
  #initial: number | null = null;
  #recovering = false;

  /** Whether a gap was seen and its resubscription has not been answered yet. */
  get recovering(): boolean {
    return this.#recovering;
  }

  /**
   * A `subscribed` frame (a reply, or the server's unsolicited resync). `recovered: true` means
   * the events after `since_seq` follow: the position stays. Anything else sets a new baseline
   * `seq`; the latest-state event that may follow carries that seq and is delivered.
   * Returns whether the application must reload (events were lost).
   */
  subscribed(seq: number, recovered: boolean | undefined): { reload: boolean } {
    this.#recovering = false;
    if (recovered === true && this.last !== null) {
      this.#initial = null;
      return { reload: false };
    }
    this.last = seq;
    this.#initial = seq;
    return { reload: recovered === false };
  }

  /** Classifies a channel event's `seq`, and advances the position when it is delivered. */
  accept(seq: number): SeqVerdict {
    if (this.last === null) {
      this.last = seq;
      return "deliver";
    }
    if (this.#initial !== null && seq === this.#initial) {
      this.#initial = null;
      return "deliver";
    }
    if (seq <= this.last) return "duplicate";
    this.#initial = null;
    if (seq === this.last + 1) {
      this.last = seq;
      return "deliver";
    }
    if (this.#recovering) return "drop";
    this.#recovering = true;
    return "gap";
  }
}
