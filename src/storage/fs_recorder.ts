/**
 * What a task did through its `fs`: the paths it read, the directories it listed, the
 * patterns it globbed and the paths it changed. A {@linkcode DataFs} given a recorder
 * tells it of every operation, for TypeScript tasks (`ctx.fs`) and Python tasks (whose
 * `fsutil` and `kt_deno` calls are served through a `DataFs`) alike.
 *
 * @module
 */

/** The paths a task touched, as plain JSON (sent from a worker to the executor). */
export interface Observed {
  /** Paths read, or looked at (`exists`, `stat`, `isfile`, `isdir`). */
  reads: string[];
  /** Directories listed. */
  lists: string[];
  /** Glob patterns matched. */
  globs: string[];
  /** Paths written, appended to, created or removed. */
  writes: string[];
  /** Why the task did something the fs API does not see (it then is never cached). */
  unobserved?: string;
}

/**
 * Collects the paths of one task's file operations.
 *
 * @example
 * ```ts
 * import { FsRecorder } from "./fs_recorder.ts";
 * const recorder = new FsRecorder();
 * recorder.read("in/a.txt");
 * recorder.wrote("out/a.txt");
 * recorder.observed(); // { reads: ["in/a.txt"], lists: [], globs: [], writes: ["out/a.txt"] }
 * ```
 */
export class FsRecorder {
  readonly #reads = new Set<string>();
  readonly #lists = new Set<string>();
  readonly #globs = new Set<string>();
  readonly #writes = new Set<string>();
  #unobserved?: string;

  /** A path read or looked at. */
  read(path: string): void {
    this.#reads.add(path);
  }

  /** A directory listed. */
  listed(path: string): void {
    this.#lists.add(path);
  }

  /** A glob pattern matched. */
  globbed(pattern: string): void {
    this.#globs.add(pattern);
  }

  /** A path changed. */
  wrote(path: string): void {
    this.#writes.add(path);
  }

  /** The task did something outside the fs API (the first reason is kept). */
  unobservable(why: string): void {
    this.#unobserved ??= why;
  }

  /** What was recorded, sorted. */
  observed(): Observed {
    const sorted = (set: Set<string>) => [...set].sort();
    return {
      reads: sorted(this.#reads),
      lists: sorted(this.#lists),
      globs: sorted(this.#globs),
      writes: sorted(this.#writes),
      ...(this.#unobserved ? { unobserved: this.#unobserved } : {}),
    };
  }
}
