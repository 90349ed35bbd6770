import {
  MAX_RATE_LIMITED_REPLIES,
  MAX_RATE_REFUSALS,
  MESSAGE_BURST,
  MESSAGES_PER_SECOND,
  RATE_REFUSAL_WINDOW_MS,
} from "../protocol/limits";
import { TokenBucket } from "../protocol/token-bucket";

/** What to do with one client message. */
export type RateVerdict =
  /** Handle it. */
  | "accept"
  /** Drop it and tell the client (`rate_limited`). */
  | "refuse"
  /** Drop it silently: the window's replies are spent, a reply per refusal would be a flood too. */
  | "drop"
  /** Too many refusals in the window: close the socket (1008). */
  | "close";

export interface RateLimits {
  /** Sustained messages a second (the bucket's refill). */
  rate: number;
  /** Messages allowed at once (the bucket's size). */
  burst: number;
  /** Refusals within a window past which the socket is closed. */
  maxRefusals: number;
  /** Refusals within a window that get a reply. */
  maxReplies: number;
  /** The window, opened by the first refusal after the previous one ended. */
  windowMs: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  rate: MESSAGES_PER_SECOND,
  burst: MESSAGE_BURST,
  maxRefusals: MAX_RATE_REFUSALS,
  maxReplies: MAX_RATE_LIMITED_REPLIES,
  windowMs: RATE_REFUSAL_WINDOW_MS,
};

/**
 * The rate policy of one socket, whatever its protocol: a token bucket, and a count of refusals
 * per window that accepted messages do not reset, so a flood that some messages get through is
 * still closed, and answers to refusals are bounded per window. In memory only: a hub that wakes
 * from hibernation starts every socket with a full bucket, which errs on the lenient side.
 */
export class MessageRateLimiter {
  readonly #limits: RateLimits;
  readonly #bucket: TokenBucket;
  #windowStartedAt = Number.NEGATIVE_INFINITY;
  #refusals = 0;
  #closed = false;

  constructor(now: number, limits: Partial<RateLimits> = {}) {
    this.#limits = { ...DEFAULT_RATE_LIMITS, ...limits };
    this.#bucket = new TokenBucket(this.#limits.rate, this.#limits.burst, now);
  }

  check(now: number): RateVerdict {
    if (this.#closed) return "close";
    if (this.#bucket.take(now)) return "accept";
    if (now - this.#windowStartedAt >= this.#limits.windowMs) {
      this.#windowStartedAt = now;
      this.#refusals = 0;
    }
    this.#refusals += 1;
    if (this.#refusals > this.#limits.maxRefusals) {
      this.#closed = true;
      return "close";
    }
    return this.#refusals <= this.#limits.maxReplies ? "refuse" : "drop";
  }
}
