/**
 * Waiting for a condition to hold, with a deadline.
 *
 * @module
 */

/** Settings of {@linkcode until}. */
export interface UntilOptions {
  /** More to say when the deadline passes (the state of what was waited on). */
  detail?: () => string;
  /** Time between two checks. Default 200 ms. */
  everyMs?: number;
  /** Whether an error `check` throws is retried (true, the default) or ends the wait. */
  retryErrors?: boolean;
}

/**
 * Polls `check` until it returns something truthy and returns that; after `seconds`
 * throws, naming what it waited for, the last error `check` threw and `detail()`.
 *
 * @example
 * ```ts
 * import { until } from "./until.ts";
 * let polls = 0;
 * const found = await until("the third poll", 5, () => ++polls === 3 && "three", { everyMs: 1 });
 * found; // "three"
 * ```
 */
export async function until<T>(
  what: string,
  seconds: number,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: UntilOptions = {},
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (error) {
      if (options.retryErrors === false) throw error;
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 200));
  }
  const why = last ? ` (${last})` : "";
  const detail = options.detail?.() ?? "";
  throw new Error(`timed out after ${seconds}s waiting for ${what}${why} ${detail}`.trimEnd());
}
