/**
 * A long list of tasks kept as its JSON text (UTF-8) and where each task starts in it,
 * instead of as objects. 100,000 small tasks take about 4.5 MB this way against about
 * 11 MB of objects, their text is what the state document holds (written as it is, never
 * serialized again), and a Kubernetes controller that reads them from a file never makes
 * the objects at all. A task is parsed when it is asked for.
 *
 * @module
 */
import type { Task } from "./schema.ts";

/** A job's tasks: an array, or the same list packed. */
export type TaskList = Task[] | PackedTasks;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]);
const CLOSE = new Set([0x5d, 0x7d]);
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Tasks packed as JSON text.
 *
 * @example
 * ```ts
 * import { PackedTasks } from "./packed_tasks.ts";
 * const tasks = PackedTasks.of([{ function: "m.f", args: { i: 0 } }, { args: {} }]);
 * tasks.length; // 2
 * tasks.at(0); // { function: "m.f", args: { i: 0 } }
 * JSON.stringify({ tasks }); // '{"tasks":[{"function":"m.f","args":{"i":0}},{"args":{}}]}'
 * ```
 */
export class PackedTasks implements Iterable<Task> {
  /** The array's text, `[` to `]`. */
  readonly #json: Uint8Array;
  /** Where task i starts; entry `length` is one past the closing bracket. */
  readonly #starts: Uint32Array;
  /** While set, serializing a list gives this instead of its tasks. */
  static #marking?: (tasks: PackedTasks) => string;

  private constructor(json: Uint8Array, starts: Uint32Array) {
    this.#json = json;
    this.#starts = starts;
  }

  /** Packs a list of tasks. */
  static of(tasks: readonly Task[]): PackedTasks {
    let json = new Uint8Array(Math.max(64, tasks.length * 32));
    const starts = new Uint32Array(tasks.length + 1);
    let at = 1;
    json[0] = 0x5b;
    for (let i = 0; i <= tasks.length; i++) {
      starts[i] = at;
      const text = i < tasks.length
        ? JSON.stringify(tasks[i]) + (i + 1 < tasks.length ? "," : "")
        : "]";
      for (;;) {
        const { read, written } = encoder.encodeInto(text, json.subarray(at));
        if (read === text.length) {
          at += written;
          break;
        }
        const larger = new Uint8Array(Math.max(json.length * 2, at + text.length * 3));
        larger.set(json.subarray(0, at));
        json = larger;
      }
    }
    starts[tasks.length] = at;
    return new PackedTasks(json.slice(0, at), starts);
  }

  /**
   * Takes the UTF-8 text of a JSON array of tasks (as {@linkcode json} gives it, or as a
   * launcher wrote it), finding where each task starts without parsing any. Throws a
   * SyntaxError for text that is not an array.
   */
  static fromJson(json: Uint8Array): PackedTasks {
    let i = 0;
    while (SPACE.has(json[i])) i++;
    if (json[i] !== 0x5b) throw new SyntaxError("a task list is not a JSON array");
    let starts = new Uint32Array(1024);
    let count = 0;
    let depth = 0;
    let empty = true;
    let start = i + 1;
    const push = (at: number) => {
      if (count + 1 >= starts.length) {
        const larger = new Uint32Array(starts.length * 2);
        larger.set(starts);
        starts = larger;
      }
      starts[count++] = at;
    };
    for (i++; i < json.length; i++) {
      const byte = json[i];
      if (byte === QUOTE) {
        // Skips the string, escapes included.
        for (i++; i < json.length && json[i] !== QUOTE; i++) if (json[i] === BACKSLASH) i++;
        empty = false;
      } else if (OPEN.has(byte)) {
        depth++;
        empty = false;
      } else if (CLOSE.has(byte)) {
        if (depth-- > 0) continue;
        if (!empty) push(start);
        let end = i + 1;
        while (SPACE.has(json[end])) end++;
        if (end !== json.length) throw new SyntaxError("text after the task list's end");
        starts[count] = i + 1;
        return new PackedTasks(json.subarray(0, i + 1), starts.slice(0, count + 1));
      } else if (byte === COMMA && depth === 0) {
        push(start);
        start = i + 1;
      } else if (!SPACE.has(byte)) empty = false;
    }
    throw new SyntaxError("a task list ends before its closing bracket");
  }

  /** Number of tasks. */
  get length(): number {
    return this.#starts.length - 1;
  }

  /** The list's JSON text, UTF-8. */
  get json(): Uint8Array {
    return this.#json;
  }

  /** Task `index`, parsed (undefined past the end). */
  at(index: number): Task | undefined {
    if (index < 0) index += this.length;
    if (!(index >= 0 && index < this.length)) return undefined;
    // A task's text runs to the comma (or bracket) before the next one's start.
    const text = decoder.decode(
      this.#json.subarray(this.#starts[index], this.#starts[index + 1] - 1),
    );
    return JSON.parse(text);
  }

  *[Symbol.iterator](): Iterator<Task> {
    for (let i = 0; i < this.length; i++) yield this.at(i)!;
  }

  /** Every task, parsed. */
  toArray(): Task[] {
    return JSON.parse(decoder.decode(this.#json));
  }

  /** For `JSON.stringify`: the tasks (or, inside {@linkcode stringifyMarked}, a mark). */
  toJSON(): unknown {
    return PackedTasks.#marking ? PackedTasks.#marking(this) : this.toArray();
  }

  /**
   * `JSON.stringify(value)`, except that every packed list in it is written as the string
   * `mark(list)` and not parsed: the caller puts the lists' {@linkcode json} in its place.
   */
  static stringifyMarked(value: unknown, mark: (tasks: PackedTasks) => string): string {
    PackedTasks.#marking = mark;
    try {
      return JSON.stringify(value);
    } finally {
      PackedTasks.#marking = undefined;
    }
  }
}

/** Task `index` of a list. */
export function taskAt(tasks: TaskList, index: number): Task | undefined {
  return tasks instanceof PackedTasks ? tasks.at(index) : tasks[index];
}
