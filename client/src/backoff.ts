/**
 * Jittered exponential backoff ("full jitter"): the n-th consecutive failed attempt waits a
 * random time between 0 and min(maxMs, baseMs * 2^(n-1)). Jitter spreads the reconnects of many
 * clients that lost the same server at once. Pure: the random source is a parameter.
 */
export interface BackoffOptions {
  /** The ceiling of the first retry's wait (default 500 ms). */
  baseMs?: number;
  /** The largest ceiling (default 30 s). */
  maxMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 30_000 } as const;

/** The wait before attempt `attempt` (0: the first connection, no wait; 1: the first retry, …). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return 0;
  const baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  // 2^(attempt-1) overflows to Infinity for large attempts; min() keeps the ceiling finite.
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 1024));
  return Math.floor(random() * ceiling);
}
