/**
 * The files of a run on Kubernetes in its metadata folder: the spec the launcher leaves
 * for the controller, each job's task definitions the controller leaves for its pods, and
 * the reason a pod leaves when its task failed.
 *
 * Definitions are written in chunks: chunk `c` of a job holds tasks `c·K … c·K+K-1` as a
 * JSON array, where K (at most 64) is chosen per job so that a chunk stays under 4,000
 * bytes: a pod reads one chunk, and a job of 100,000 small tasks is 1,563 files, not
 * 100,000. A task too large for its share of a chunk is written to a file of its own and
 * its chunk entry is `null`. Pods learn K from `KT_TASKS_PER_CHUNK`.
 *
 * @module
 */
import { taskChunkPath, taskFilePath } from "./layout.ts";
import type { JobState } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";

/** A task's definition as the controller writes it for pods. */
export interface TaskDefinition {
  kind: "static" | "dynamic";
  function?: string;
  args: Record<string, unknown>;
  command?: string[];
}

/** Largest chunk, in bytes. */
export const CHUNK_BYTES = 4000;
/** Most tasks in one chunk. */
export const MAX_PER_CHUNK = 64;

/** The definitions of a job's tasks, in index order, each made as it is taken. */
export function* taskDefinitions(job: Readonly<JobState>): Generator<TaskDefinition> {
  if (job.type === "dynamic") {
    yield { kind: "dynamic", function: job.function, args: job.args ?? {} };
    return;
  }
  for (const task of job.tasks ?? []) {
    yield { kind: "static", function: task.function, args: task.args, command: task.command };
  }
}

/** Bytes of a string in UTF-8, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: two units, four bytes.
      i++;
      bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/** The files of a job's task definitions: K, how many files, and the files themselves. */
export interface TaskFiles {
  perChunk: number;
  /** How many files `files` yields. */
  count: number;
  /**
   * Each file's path and text, made as they are taken: a job of 100,000 tasks never has
   * more than one chunk's text in memory at a time.
   */
  files: Iterable<{ path: string; text: string }>;
}

/**
 * Lays a job's tasks out in chunks: K fits ten in eleven tasks (by size) into a chunk,
 * and the larger ones get files of their own. Only the tasks' sizes are kept (four bytes
 * a task); the texts are made again, a chunk at a time, as the files are taken.
 *
 * @example
 * ```ts
 * import { layOutTasks } from "./task_files.ts";
 * const tasks = Array.from({ length: 100 }, (_, i) => ({ kind: "static" as const, args: { i } }));
 * const { perChunk, count } = layOutTasks("ktpr0123abcd", "load", tasks.length, () => tasks);
 * perChunk; // 64
 * count; // 2
 * ```
 */
export function layOutTasks(
  runId: string,
  job: string,
  tasks: number,
  definitions: () => Iterable<TaskDefinition>,
): TaskFiles {
  const sizes = new Uint32Array(tasks);
  let i = 0;
  for (const definition of definitions()) sizes[i++] = utf8Length(JSON.stringify(definition));
  if (i !== tasks) throw new Error(`job ${job} has ${i} task definitions, not ${tasks}`);
  const typical = sizes.slice().sort()[Math.floor(0.9 * (tasks - 1))] ?? 1;
  const perChunk = Math.max(1, Math.min(MAX_PER_CHUNK, Math.floor(CHUNK_BYTES / (typical + 1))));
  const share = Math.floor(CHUNK_BYTES / perChunk) - 1;
  let own = 0;
  for (const size of sizes) if (size > share) own++;
  function* files() {
    let entries: string[] = [];
    let index = 0;
    for (const definition of definitions()) {
      const text = JSON.stringify(definition);
      if (sizes[index] <= share) entries.push(text);
      else {
        yield { path: taskFilePath(runId, job, index), text };
        entries.push("null");
      }
      index++;
      if (entries.length === perChunk || index === tasks) {
        const chunk = Math.floor((index - 1) / perChunk);
        yield { path: taskChunkPath(runId, job, chunk), text: `[${entries.join(",")}]` };
        entries = [];
      }
    }
  }
  return {
    perChunk,
    count: Math.ceil(tasks / perChunk) + own,
    files: { [Symbol.iterator]: files },
  };
}

/** Reads task `index`'s definition: its chunk, and its own file when it has one. */
export async function readTaskDefinition(
  fs: DataFs,
  runId: string,
  job: string,
  index: number,
  perChunk: number,
): Promise<TaskDefinition> {
  const chunk = Math.floor(index / perChunk);
  const entries = await fs.readJson<(TaskDefinition | null)[]>(taskChunkPath(runId, job, chunk));
  const entry = entries[index - chunk * perChunk];
  if (entry === undefined) throw new Error(`task ${index} is not in its chunk file ${chunk}`);
  return entry ?? await fs.readJson<TaskDefinition>(taskFilePath(runId, job, index));
}

/** The definitions of some of a job's tasks, reading each chunk once: a packed pod's tasks. */
export async function readTaskDefinitions(
  fs: DataFs,
  runId: string,
  job: string,
  indexes: readonly number[],
  perChunk: number,
): Promise<Map<number, TaskDefinition>> {
  const chunks = new Map<number, Promise<(TaskDefinition | null)[]>>();
  const found = new Map<number, TaskDefinition>();
  for (const index of indexes) {
    const chunk = Math.floor(index / perChunk);
    if (!chunks.has(chunk)) chunks.set(chunk, fs.readJson(taskChunkPath(runId, job, chunk)));
    const entry = (await chunks.get(chunk)!)[index - chunk * perChunk];
    if (entry === undefined) throw new Error(`task ${index} is not in its chunk file ${chunk}`);
    found.set(index, entry ?? await fs.readJson<TaskDefinition>(taskFilePath(runId, job, index)));
  }
  return found;
}
