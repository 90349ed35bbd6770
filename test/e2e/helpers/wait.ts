/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export function waitFor<T>(
  what: string,
  check: () => T | undefined,
  timeoutMs = 10_000,
  describe: () => string = () => "",
): Promise<T> {
  return waitForAsync(what, async () => check(), timeoutMs, describe, 20);
}

/**
 * Like `waitFor`, for a check that is itself asynchronous (a page evaluated in a browser): polls
 * every `intervalMs` until it resolves to a value other than undefined, or fails after `timeoutMs`
 * with `describe()` (given the last value checked, if any) appended.
 */
export async function waitForAsync<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  describe: () => string | Promise<string> = () => "",
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
