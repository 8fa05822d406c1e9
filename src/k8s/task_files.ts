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
import { metadataDir } from "../engine/state.ts";
import type { JobState } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import type { TaskRequest } from "../task/request.ts";

/** A task's definition as the controller writes it for pods. */
export type TaskDefinition = Pick<TaskRequest, "kind" | "function" | "args" | "command">;

/** Largest chunk, in bytes. */
export const CHUNK_BYTES = 4000;
/** Most tasks in one chunk. */
export const MAX_PER_CHUNK = 64;

/** Path of chunk `chunk` of a job's task definitions. */
export function taskChunkPath(runId: string, job: string, chunk: number): string {
  return `${metadataDir(runId)}/tasks/${job}/chunk-${chunk}.json`;
}

/** Path of a task definition too large for a chunk. */
export function taskFilePath(runId: string, job: string, index: number): string {
  return `${metadataDir(runId)}/tasks/${job}/${index}.json`;
}

/** Path where a pod leaves the reason its task failed, for the controller's report. */
export function taskErrorPath(runId: string, job: string, index: number): string {
  return `${metadataDir(runId)}/task_errors/${job}/${index}.txt`;
}

/** The definitions of a job's tasks, in index order. */
export function taskDefinitions(job: Readonly<JobState>): TaskDefinition[] {
  if (job.type === "dynamic") {
    return [{ kind: "dynamic", function: job.function, args: job.args ?? {} }];
  }
  return job.tasks!.map((task) => ({
    kind: "static",
    function: task.function,
    args: task.args,
    command: task.command,
  }));
}

/** The files of a job's task definitions: K, and each file's path and text. */
export interface TaskFiles {
  perChunk: number;
  files: { path: string; text: string }[];
}

/**
 * Lays a job's tasks out in chunks: K fits ten in eleven tasks (by size) into a chunk,
 * and the larger ones get files of their own.
 *
 * @example
 * ```ts
 * import { layOutTasks } from "./task_files.ts";
 * const tasks = Array.from({ length: 100 }, (_, i) => ({ kind: "static" as const, args: { i } }));
 * const { perChunk, files } = layOutTasks("ktpr0123abcd", "load", tasks);
 * perChunk; // 64
 * files.length; // 2
 * ```
 */
export function layOutTasks(runId: string, job: string, tasks: TaskDefinition[]): TaskFiles {
  const texts = tasks.map((task) => JSON.stringify(task));
  const sizes = texts.map((text) => new TextEncoder().encode(text).length);
  const sorted = [...sizes].sort((a, b) => a - b);
  const typical = sorted[Math.floor(0.9 * (sorted.length - 1))] ?? 1;
  const perChunk = Math.max(1, Math.min(MAX_PER_CHUNK, Math.floor(CHUNK_BYTES / (typical + 1))));
  const share = Math.floor(CHUNK_BYTES / perChunk) - 1;
  const files: { path: string; text: string }[] = [];
  for (let start = 0; start < texts.length; start += perChunk) {
    const entries = texts.slice(start, start + perChunk).map((text, offset) => {
      if (sizes[start + offset] <= share) return text;
      files.push({ path: taskFilePath(runId, job, start + offset), text });
      return "null";
    });
    files.push({
      path: taskChunkPath(runId, job, start / perChunk),
      text: `[${entries.join(",")}]`,
    });
  }
  return { perChunk, files };
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
