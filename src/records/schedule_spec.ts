/**
 * A schedule's kept spec: `schedule create` and `update` write it to the data dir, and the
 * controller of each firing copies it into the run it starts (see kept_spec.ts), so a
 * change applies from the next firing on and a run never sees two specs.
 *
 * @module
 */
import type { Pipeline } from "../spec/schema.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { scheduleDir, scheduleSpecPath } from "./layout.ts";

/** What `kt-schedules/<name>/spec.json` holds. */
export interface ScheduleSpec {
  schedule: string;
  /** The version of the kt-deno that kept it; a controller of another version refuses it. */
  kt_version: string;
  updated_at: string;
  pipeline: Pipeline;
}

/** Writes (or replaces) a schedule's spec. */
export async function writeScheduleSpec(
  fs: DataFs,
  name: string,
  pipeline: Pipeline,
  version: string,
  now = new Date(),
): Promise<void> {
  const kept: ScheduleSpec = {
    schedule: name,
    kt_version: version,
    updated_at: now.toISOString(),
    pipeline,
  };
  await fs.write(scheduleSpecPath(name), JSON.stringify(kept));
}

/** A schedule's spec; throws the storage driver's NotFoundError when it has none. */
export async function readScheduleSpec(fs: DataFs, name: string): Promise<ScheduleSpec> {
  return await fs.readJson<ScheduleSpec>(scheduleSpecPath(name));
}

/** Removes a schedule's records (its runs stay). */
export async function removeScheduleSpec(fs: DataFs, name: string): Promise<void> {
  if (await fs.exists(scheduleDir(name))) await fs.rmdir(scheduleDir(name));
}
