/**
 * The launch record: how a run was started (spec file, functions folder or namespace),
 * kept in the run for `resume` and `cancel`.
 *
 * @module
 */
import type { DataFs } from "../storage/data_fs.ts";
import { launchPath } from "./layout.ts";

/** How a run was started, kept in the run (`launch.json`) for `resume` and `cancel`. */
export interface LaunchRecord {
  /** The spec file, as an absolute path. */
  spec_path?: string;
  /** The functions folder of a local run, as an absolute path. */
  functions_dir?: string;
  /** The namespace of a run on Kubernetes. */
  namespace?: string;
  /** The kubeconfig context it was launched with, if one was named. */
  context?: string;
  /** The schedule that started it. */
  schedule?: string;
  /** Its controller Job, when that is not `kt-controller-<run id>` (a schedule's Job). */
  controller_job?: string;
  /** Started with `--cache`: `resume` keeps using the cache. */
  cache?: boolean;
}

/** A path made absolute against the working directory (for the launch record). */
export function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** Writes a run's launch record. */
export async function writeLaunch(fs: DataFs, runId: string, launch: LaunchRecord): Promise<void> {
  await fs.writeJson(launchPath(runId), launch);
}

/** A run's launch record, or null when it has none (or it cannot be read). */
export async function readLaunch(fs: DataFs, runId: string): Promise<LaunchRecord | null> {
  return await fs.readJson<LaunchRecord>(launchPath(runId)).catch(() => null);
}
