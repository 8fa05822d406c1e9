/**
 * Writes a run's state document whenever it changes: one write at a time, always ending
 * with the newest state, each write atomic (through the storage driver).
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import { statePath } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";

/**
 * Coalesces saves: a save asked for while one is writing is folded into one more write.
 *
 * @example
 * ```ts ignore
 * const writer = new StateWriter(fs, run);
 * run.advance(new Date());
 * await writer.save();
 * ```
 */
export class StateWriter {
  #dirty = false;
  #writing: Promise<void> | null = null;

  constructor(readonly fs: DataFs, readonly run: PipelineRun) {}

  /** Asks for the current state to be written; resolves once a write that includes it ends. */
  save(): Promise<void> {
    this.#dirty = true;
    this.#writing ??= this.#drain().finally(() => this.#writing = null);
    return this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      await this.fs.writeJson(statePath(this.run.runId), this.run.document);
    }
  }
}
