/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. In memory only: a hub that
 * wakes from hibernation starts every socket with a full bucket, which errs on the lenient side.
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    // Only forward time refills: a clock that steps back must not refill the same span twice.
    if (now > this.#updatedAt) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.rate);
      this.#updatedAt = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
