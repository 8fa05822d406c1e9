/**
 * Waiting on an event in a test: polls a check until it holds, with a deadline as a safety
 * net only (never a timing assertion).
 *
 * @module
 */

/**
 * Polls `check` (every 200 ms) until it returns something truthy and returns that; after
 * `seconds` throws, naming what it waited for, the last error `check` threw and `detail()`.
 *
 * ```ts ignore
 * const pod = await until("the pod to run", 60, () => podNamed("p"));
 * ```
 */
export async function until<T>(
  what: string,
  seconds: number,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  detail: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const why = last ? ` (${last})` : "";
  throw new Error(`timed out after ${seconds}s waiting for ${what}${why} ${detail()}`.trimEnd());
}
