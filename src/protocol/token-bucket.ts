/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. Pure (the clock is a
 * parameter, no imports), so the server's per-socket rate limit and the client SDK's pacer,
 * which keeps a client under that limit, share it.
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

  /** Full again, as a new connection's bucket on the server starts. */
  reset(now: number): void {
    this.#tokens = this.burst;
    this.#updatedAt = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** How long until a token is available (0: now). */
  delay(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.rate) * 1000);
  }

  #refill(now: number): void {
    // Only forward time refills: a clock that steps back must not refill the same span twice.
    if (now <= this.#updatedAt) return;
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.rate);
    this.#updatedAt = now;
  }
}
