/**
 * Mapping a list through an asynchronous function with a bound on the calls under way.
 *
 * @module
 */

/**
 * `fn` of each item, at most `limit` calls under way at once; the results in the items'
 * order. Rejects with the first error (calls under way go on).
 *
 * @example
 * ```ts
 * import { mapLimited } from "./map_limited.ts";
 * const sizes = await mapLimited(["a", "bb"], 2, async (s) => s.length);
 * ```
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]);
  }));
  return out;
}
