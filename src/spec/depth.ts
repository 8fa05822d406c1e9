/**
 * A bound on how deeply values from users nest (args in a spec, the jobs a dynamic
 * function returns). Deeper values are refused before anything recurses over them
 * (`JSON.stringify`, structured clone, the report), which would overflow the stack. And
 * the NUL characters they may not hold.
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

/**
 * Where a value holds a NUL character (in a string or a key), as a field path under
 * `base`, or `null` when it holds none. A NUL cannot pass into a process's arguments or
 * environment, which is where args and commands go. Call it on values {@linkcode tooDeep}
 * passed: it walks with its own stack too.
 *
 * @example
 * ```ts
 * import { nulAt } from "./depth.ts";
 * nulAt({ a: ["x", "y\0"] }, "args"); // "args.a[1]"
 * nulAt({ a: "x" }, "args"); // null
 * ```
 */
export function nulAt(value: unknown, base = ""): string | null {
  // JSON writes a NUL as \u0000: most values are cleared by one search of their text.
  if (value === undefined || !JSON.stringify(value).includes("\\u0000")) return null;
  const stack: { value: unknown; path: string }[] = [{ value, path: base }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === "string") {
      if (item.value.includes("\0")) return item.path;
      continue;
    }
    if (item.value === null || typeof item.value !== "object") continue;
    if (Array.isArray(item.value)) {
      item.value.forEach((child, i) => stack.push({ value: child, path: `${item.path}[${i}]` }));
    } else {
      for (const [key, child] of Object.entries(item.value)) {
        const path = item.path ? `${item.path}.${key}` : key;
        if (key.includes("\0")) return path;
        stack.push({ value: child, path });
      }
    }
  }
  return null;
}
