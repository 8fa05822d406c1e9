/**
 * Done records: which tasks of a job finished well, so that a resumed run, a retried pod
 * or a restarted controller runs only the others.
 *
 * A job's tasks are recorded in blocks of consecutive indexes, one small file per block
 * (`tasks_done/<job>/<first>.json`, a JSON array of the block's finished indexes),
 * rewritten as tasks finish, at most once a second, the first time a second after its first
 * task finished: a local job that ends sooner writes none (the state document says it is
 * done). A block is a packed pod's tasks on
 * Kubernetes (the pod is its only writer), or {@linkcode LOCAL_BLOCK} tasks of a local run.
 * Not one file per task: 100,000 tasks on S3 would be 100,000 writes and, to resume, 100
 * pages of listing plus 100,000 reads; in blocks of 1,000 they are a hundred files, each
 * read once. Not one line appended per task: S3 has no append. A record lost with a killed
 * process costs a rerun of the tasks it held, never a skipped task.
 *
 * @module
 */
import { Coalescer } from "../async/coalescer.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { taskDonePath, tasksDoneDir } from "./layout.ts";

/** Tasks per done record in a local run. */
export const LOCAL_BLOCK = 1_000;

/** Least time between two writes of one block's record, in milliseconds. */
const WRITE_GAP_MS = 1_000;

/** The finished indexes of one block, or none when it has no record. */
export async function readDoneBlock(
  fs: DataFs,
  runId: string,
  job: string,
  first: number,
): Promise<number[]> {
  try {
    const indexes = await fs.readJson<unknown>(taskDonePath(runId, job, first));
    return Array.isArray(indexes) ? indexes.filter((i) => Number.isInteger(i)) : [];
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof SyntaxError) return [];
    throw error;
  }
}

/** Every finished index of a job, from all its blocks' records. */
export async function readDoneTasks(fs: DataFs, runId: string, job: string): Promise<Set<number>> {
  const names = await fs.listdir(tasksDoneDir(runId, job)).catch((error) => {
    if (error instanceof NotFoundError) return [] as string[];
    throw error;
  });
  const firsts = names.map((name) => name.replace(/\.json$/, "")).filter((n) => /^\d+$/.test(n));
  const blocks = await Promise.all(firsts.map((n) => readDoneBlock(fs, runId, job, Number(n))));
  return new Set(blocks.flat());
}

interface Block {
  indexes: number[];
  writes: Coalescer;
  /** Indexes added since the last write started. */
  dirty: boolean;
  /** The last write. */
  written: Promise<void>;
  /** Set while a write waits for its gap. */
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Records a job's finished tasks in blocks of `block` tasks, each block's record
 * rewritten at most once a second; {@linkcode flush} writes what is pending. Indexes
 * already recorded (`known`) are kept in the records it writes.
 *
 * @example
 * ```ts ignore
 * const done = new DoneRecorder(fs, "ktpr0000abcd", "load", 1_000);
 * done.add(7);
 * await done.flush();
 * ```
 */
export class DoneRecorder {
  readonly #blocks = new Map<number, Block>();

  constructor(
    readonly fs: DataFs,
    readonly runId: string,
    readonly job: string,
    readonly block: number,
    known: Iterable<number> = [],
  ) {
    for (const index of known) this.#blockOf(index).indexes.push(index);
  }

  #blockOf(index: number) {
    const first = Math.floor(index / this.block) * this.block;
    let found = this.#blocks.get(first);
    if (!found) {
      const path = taskDonePath(this.runId, this.job, first);
      const block: Block = {
        indexes: [],
        dirty: false,
        written: Promise.resolve(),
        writes: new Coalescer(() => {
          block.dirty = false;
          return block.written = this.fs.writeJson(path, block.indexes.toSorted((a, b) => a - b));
        }, () => WRITE_GAP_MS),
      };
      this.#blocks.set(first, found = block);
    }
    return found;
  }

  /**
   * Records task `index` as done: written a second later with the tasks done meanwhile (a
   * job that ends sooner may not need it written at all, see {@linkcode dropPending}), or at
   * the next flush. With `last` (the job's last task: its caller flushes or drops the records
   * now), it waits for that, with no timer set: a timer set and cleared for each of 10,000
   * quick one-task jobs cost more than their tasks.
   */
  add(index: number, last = false): void {
    const block = this.#blockOf(index);
    block.indexes.push(index);
    block.dirty = true;
    if (last) return;
    block.timer ??= setTimeout(() => {
      block.timer = undefined;
      block.writes.request().catch((error) =>
        console.error(`kt-deno: done records of ${this.job} not written: ${error.message}`)
      );
    }, WRITE_GAP_MS);
  }

  /** Writes every block's pending record now; a record that cannot be written is said on stderr. */
  async flush(): Promise<void> {
    await Promise.all(
      [...this.#blocks.values()].map((block) => {
        clearTimeout(block.timer);
        block.timer = undefined;
        return (block.dirty ? block.writes.now() : block.written).catch((error) =>
          console.error(`kt-deno: done records not written: ${error.message}`)
        );
      }),
    );
  }

  /**
   * Drops the records not yet written, for a job whose every task is done: the state
   * document says so, and a run that stops before writing it runs the tasks again, never
   * skips one. Waits for a write under way.
   */
  async dropPending(): Promise<void> {
    await Promise.all([...this.#blocks.values()].map((block) => {
      clearTimeout(block.timer);
      block.timer = undefined;
      block.writes.cancel();
      block.dirty = false;
      return block.written.catch(() => {});
    }));
  }
}
