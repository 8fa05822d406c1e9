/**
 * Glob patterns over data-dir paths: `*` and `?` stay within a segment, `**` spans
 * segments, `[abc]` and `[!abc]` match one character of a set.
 *
 * @module
 */

/**
 * Turns a glob pattern into an anchored regular expression over `/`-separated paths.
 *
 * @example
 * ```ts
 * import { globToRegExp } from "./glob.ts";
 * globToRegExp("in/**\/*.txt").test("in/a/b.txt"); // true
 * ```
 */
export function globToRegExp(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      const slash = pattern[i + 2] === "/";
      out += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") {
      out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        out += "\\[";
        continue;
      }
      let set = pattern.slice(i + 1, end);
      if (set.startsWith("!")) set = "^" + set.slice(1);
      out += `[${set.replaceAll("\\", "\\\\")}]`;
      i = end;
    } else {
      out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
  }
  return new RegExp(`^${out}$`);
}

/** The literal directory prefix of a pattern: where a walk for it has to start. */
export function globBase(pattern: string): string {
  const segments = pattern.split("/");
  const fixed: string[] = [];
  for (const segment of segments.slice(0, -1)) {
    if (/[*?[]/.test(segment)) break;
    fixed.push(segment);
  }
  return fixed.join("/");
}
