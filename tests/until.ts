/**
 * Waiting on an event in a test: polls a check until it holds, with a deadline as a safety
 * net only (never a timing assertion). The one `until` is src/async/until.ts; this is its
 * form for tests.
 *
 * @module
 */
import { until as untilDeadline, type UntilOptions } from "../src/async/until.ts";

/**
 * Polls `check` (every 200 ms, or `everyMs`) until it returns something truthy and returns
 * that; after `seconds` throws, naming what it waited for, the last error `check` threw and
 * `detail()`.
 *
 * ```ts ignore
 * const pod = await until("the pod to run", 60, () => podNamed("p"));
 * ```
 */
export function until<T>(
  what: string,
  seconds: number,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  detail: (() => string) | UntilOptions = {},
): Promise<T> {
  return untilDeadline(what, seconds, check, typeof detail === "function" ? { detail } : detail);
}
