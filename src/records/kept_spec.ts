/**
 * The validated spec a run started with, kept in its metadata folder: the controller
 * starts the run from it, `resume` and `cancel` read it back. A long task list is kept in
 * a file of its own and read back packed (see packed_tasks.ts), so that a controller
 * never holds a 100,000-task job as objects, nor parses them.
 *
 * @module
 */
import { PackedTasks } from "../spec/packed_tasks.ts";
import type { Pipeline } from "../spec/schema.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { keptSpecPath, keptTasksPath } from "./layout.ts";

/** Task lists of at least this many tasks are kept in files of their own, and packed. */
export const PACK_TASKS_FROM = 1000;

/** What stands for a list kept in its own file, in the kept spec. */
interface KeptList {
  file: string;
  count: number;
}

const encoder = new TextEncoder();

/** Writes the spec of a run (its long task lists first, so the spec never lacks them). */
export async function writeKeptSpec(fs: DataFs, runId: string, pipeline: Pipeline): Promise<void> {
  const jobs = [];
  for (const job of pipeline.jobs) {
    const tasks = job.tasks;
    if (!tasks || tasks.length < PACK_TASKS_FROM) {
      jobs.push(job);
      continue;
    }
    const file = keptTasksPath(runId, job.name);
    const json = tasks instanceof PackedTasks ? tasks.json : encoder.encode(JSON.stringify(tasks));
    await fs.writeBytes(file, json);
    const kept: KeptList = { file, count: tasks.length };
    jobs.push({ ...job, tasks: kept });
  }
  await fs.write(keptSpecPath(runId), JSON.stringify({ ...pipeline, jobs }));
}

/**
 * Reads the spec a run was started with; its long task lists come back packed. Throws
 * the storage driver's NotFoundError when the run has no kept spec.
 */
export async function readKeptSpec(fs: DataFs, runId: string): Promise<Pipeline> {
  const pipeline = await fs.readJson<Pipeline>(keptSpecPath(runId));
  for (const job of pipeline.jobs) {
    const kept = job.tasks as unknown as KeptList | undefined;
    if (kept === undefined || Array.isArray(kept)) continue;
    const tasks = PackedTasks.fromJson(await fs.readBytes(kept.file));
    if (tasks.length !== kept.count) {
      throw new Error(
        `${kept.file} holds ${tasks.length} tasks, where the spec says ${kept.count}`,
      );
    }
    job.tasks = tasks;
  }
  return pipeline;
}
