/** Small numeric helpers for the bench. Pure. */

/** Nearest-rank percentiles of `samples` (ms), rounded to 0.01. */
export function summarize(samples) {
  const n = samples.length;
  if (n === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, mean: null };
  const sorted = Float64Array.from(samples).sort();
  const at = (p) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))];
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: n,
    p50: round(at(50)),
    p95: round(at(95)),
    p99: round(at(99)),
    max: round(sorted[n - 1]),
    mean: round(sum / n),
  };
}

export const round = (value, digits = 2) =>
  value === null || value === undefined || !Number.isFinite(value) ? null : Number(value.toFixed(digits));

/** Runs `fn` over `items` with at most `concurrency` at once; resolves with the results in order. */
export async function pool(items, concurrency, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Epoch milliseconds with sub-millisecond precision (the clock every latency uses). */
export const now = () => performance.timeOrigin + performance.now();
