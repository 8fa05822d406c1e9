/**
 * Writes a run's state document as it changes: one write at a time, at most one every
 * `interval` milliseconds (longer for a document that takes long to write), each carrying
 * every change made before it began, each atomic (through the storage driver);
 * {@linkcode StateWriter.flush} writes at once.
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import { statePath } from "./layout.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { encodeState } from "./state_json.ts";
import { Coalescer } from "../async/coalescer.ts";

/**
 * The most time between two writes: a write that took long because the store was down
 * (and the storage driver retried) must not hold the next one back for five outages.
 */
const MAX_GAP_MS = 10_000;

/**
 * Coalesces saves: all the saves asked for while a write runs or waits for its turn are
 * carried by one write.
 *
 * @example
 * ```ts ignore
 * const writer = new StateWriter(fs, run);
 * run.advance(new Date());
 * await writer.save(); // written within 200 ms
 * await writer.flush(); // nothing changed since: no write
 * ```
 */
export class StateWriter {
  /** Bytes written so far. */
  bytes = 0;
  /** Writes so far. */
  writes = 0;
  #lastTook = 0;
  #written?: string;
  readonly #writes: Coalescer;

  constructor(readonly fs: DataFs, readonly run: PipelineRun, readonly interval = 200) {
    // Nothing new to write: no wait (the run writes nothing).
    this.#writes = new Coalescer(
      () => this.#write(),
      () => this.#version() === this.#written ? 0 : this.#lastTook + this.#gap(),
    );
  }

  /** Asks for the current state to be written; resolves once a write that includes it ends. */
  save(): Promise<void> {
    return this.#writes.request();
  }

  /** Writes the current state now, without waiting for the interval (the last write). */
  flush(): Promise<void> {
    return this.#writes.now();
  }

  /**
   * The least time between a write's end and the next one's start: the interval, or twenty
   * times what the last write took if longer, so that a large document takes at most a
   * twenty-first of the run's time (its encoding holds up the run, and a chain of jobs
   * waits for it at every edge); at most {@linkcode MAX_GAP_MS}.
   */
  #gap(): number {
    return Math.min(MAX_GAP_MS, Math.max(this.interval, 20 * this.#lastTook));
  }

  /** What identifies the state: every change moves a job's status or the run's. */
  #version(): string {
    return `${this.run.version} ${this.run.status}`;
  }

  async #write(): Promise<void> {
    const version = this.#version();
    if (version === this.#written) return;
    const started = performance.now();
    const data = encodeState(this.run.document);
    try {
      await this.fs.writeBytes(statePath(this.run.runId), data);
      this.#written = version;
      this.bytes += data.length;
      this.writes++;
    } finally {
      this.#lastTook = performance.now() - started;
    }
  }
}
