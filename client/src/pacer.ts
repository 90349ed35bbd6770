/**
 * Client-side pacing of the frames one socket sends, so that the client never trips the
 * server's per-socket rate limit (a token bucket: `MESSAGES_PER_SECOND` sustained, `MESSAGE_BURST`
 * at once; refusals past a few get no reply, and many close the socket). A reconnect with many
 * subscriptions and editing sessions sends more frames at once than the burst allows. Pure: the
 * clock is a parameter.
 */
export class SendPacer {
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

  /** A new connection: the server's bucket for it starts full. */
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
    if (now <= this.#updatedAt) return;
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.rate);
    this.#updatedAt = now;
  }
}
