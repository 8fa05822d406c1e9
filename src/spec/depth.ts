/**
 * A bound on how deeply values from users nest (args in a spec, the jobs a dynamic
 * function returns). Deeper values are refused before anything recurses over them
 * (`JSON.stringify`, structured clone, the report), which would overflow the stack.
 *
 * @module
 */

/** The deepest nesting of lists and objects kt-deno accepts in a value: 100 levels. */
export const MAX_DEPTH = 100;

/**
 * Where a value nests deeper than `limit` levels of lists and objects, as a field path
 * under `base` (`args.a[0].b`), or `null` when it does not. Walks with its own stack, so
 * a value of any depth is measured without recursion; a circular value is too deep.
 *
 * @example
 * ```ts
 * import { tooDeep } from "./depth.ts";
 * tooDeep({ a: [[1]] }, "args", 2); // "args.a[0]"
 * tooDeep({ a: [1] }, "args", 2); // null
 * ```
 */
export function tooDeep(value: unknown, base = "", limit = MAX_DEPTH): string | null {
  const stack: { value: unknown; path: string; depth: number }[] = [{
    value,
    path: base,
    depth: 0,
  }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item.value === null || typeof item.value !== "object") continue;
    if (item.depth >= limit) return item.path;
    if (Array.isArray(item.value)) {
      item.value.forEach((child, i) =>
        stack.push({ value: child, path: `${item.path}[${i}]`, depth: item.depth + 1 })
      );
    } else {
      for (const [key, child] of Object.entries(item.value)) {
        const path = item.path ? `${item.path}.${key}` : key;
        stack.push({ value: child, path, depth: item.depth + 1 });
      }
    }
  }
  return null;
}
