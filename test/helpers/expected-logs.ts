/**
 * For a test that makes the service fail on purpose (an unavailable hub or topic): the lines the
 * service logs about that failure (`console.warn` / `console.error`, from the Worker or a Durable
 * Object of this isolate) are recorded for the test to assert, instead of printed. Only lines
 * whose text matches `expected` are taken; every other line prints as usual, so an unexpected
 * warning or error still shows. Ends with the test.
 */
import { onTestFinished, vi } from "vitest";

const text = (arg: unknown) => (arg instanceof Error ? `${arg.name}: ${arg.message}` : String(arg));

export function expectLogs(expected: RegExp): { lines(): string[] } {
  const lines: string[] = [];
  for (const level of ["warn", "error"] as const) {
    const print = console[level].bind(console);
    const spy = vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      const line = args.map(text).join(" ");
      if (expected.test(line)) lines.push(line);
      else print(...args);
    });
    onTestFinished(() => spy.mockRestore());
  }
  return { lines: () => [...lines] };
}

/** `text` as a RegExp source matching it literally. */
export const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
