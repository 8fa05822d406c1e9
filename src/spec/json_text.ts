/**
 * What `JSON.parse` lets pass or cannot explain in a JSON spec: a key written twice in one
 * object (it keeps the last; YAML refuses), and comments (JSON has none).
 *
 * @module
 */

/** Where a scan stopped: the line (from 1), and what it found there. */
export interface JsonFinding {
  line: number;
  text: string;
}

/** The characters JSON allows between tokens: space, tab, line feed, carriage return. */
const JSON_SPACE = new Set([32, 9, 10, 13]);

/** The end of the string literal that starts at `start` (a `"`): the index after it. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  return i + 1;
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < index; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/**
 * The first key written twice in one object of a JSON text that `JSON.parse` accepted,
 * or `null`.
 *
 * @example
 * ```ts
 * import { duplicateKey } from "./json_text.ts";
 * duplicateKey('{"name": "a",\n "name": "b"}'); // { line: 2, text: "name" }
 * duplicateKey('{"a": {"a": 1}}'); // null
 * ```
 */
export function duplicateKey(text: string): JsonFinding | null {
  const objects: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const keys = objects[objects.length - 1];
      if (keys) {
        let next = end;
        while (JSON_SPACE.has(text.charCodeAt(next))) next++;
        if (text.charCodeAt(next) === 58 /* : */) {
          const literal = text.slice(i, end);
          const key = literal.includes("\\") ? JSON.parse(literal) as string : literal.slice(1, -1);
          if (keys.has(key)) return { line: lineAt(text, i), text: key };
          keys.add(key);
        }
      }
      i = end;
      continue;
    }
    if (c === "{") objects.push(new Set());
    else if (c === "[") objects.push(null);
    else if (c === "}" || c === "]") objects.pop();
    i++;
  }
  return null;
}

/**
 * The first comment (`//` or `/*` after a space or at a line's start) outside the strings
 * of a text that looks like JSON, or `null`. (`{url: http://x}` is YAML, not a comment.)
 *
 * @example
 * ```ts
 * import { jsonComment } from "./json_text.ts";
 * jsonComment('{\n  // the name\n  "name": "a"}'); // { line: 2, text: "// the name" }
 * jsonComment('{"url": "http://x"}'); // null
 * ```
 */
export function jsonComment(text: string): JsonFinding | null {
  for (let i = 0; i < text.length;) {
    if (text[i] === '"') {
      i = stringEnd(text, i);
      continue;
    }
    const after = i === 0 || /\s/.test(text[i - 1]);
    if (after && text[i] === "/" && (text[i + 1] === "/" || text[i + 1] === "*")) {
      const lineEnd = text.indexOf("\n", i);
      return { line: lineAt(text, i), text: text.slice(i, lineEnd < 0 ? undefined : lineEnd) };
    }
    i++;
  }
  return null;
}
