/**
 * What `resume` starts from: a run that may be resumed (not Completed, not driven by a
 * live launcher or controller) and the spec it was started with, unchanged since.
 *
 * @module
 */
import { resumeRefusal } from "../engine/reopen.ts";
import type { StateDocument } from "../engine/state.ts";
import { livenessOf, readHeartbeat } from "../records/heartbeat.ts";
import { readKeptSpec } from "../records/kept_spec.ts";
import { type LaunchRecord, readLaunch } from "../records/launch.ts";
import { keptSpecPath } from "../records/layout.ts";
import { SpecError } from "../spec/problems.ts";
import type { Pipeline } from "../spec/schema.ts";
import type { DataFs } from "../storage/data_fs.ts";

/** A run that cannot be resumed, and why (the command line exits 2; nothing changed). */
export class ResumeRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResumeRefused";
  }
}

/**
 * Checks that the run of `doc` may be resumed and returns the spec it started with and
 * its launch record; throws {@linkcode ResumeRefused} saying why not.
 *
 * @example
 * ```ts ignore
 * const { pipeline, launch } = await planResume(fs, await readState(dataDir, runId));
 * ```
 */
export async function planResume(
  fs: DataFs,
  doc: StateDocument,
): Promise<{ pipeline: Pipeline; launch: LaunchRecord | null }> {
  await checkResumable(fs, doc);
  return await specToResume(fs, doc.pipeline_run_id);
}

/** The spec a run is resumed with: the kept one, refused when its spec file has changed since. */
async function specToResume(
  fs: DataFs,
  runId: string,
): Promise<{ pipeline: Pipeline; launch: LaunchRecord | null }> {
  const pipeline = await readKeptSpec(fs, runId).catch(() => null);
  if (!pipeline) {
    throw new ResumeRefused(
      `run ${runId} has no kept spec (${
        keptSpecPath(runId)
      }); start a new run with kt-deno run SPEC`,
    );
  }
  const launch = await readLaunch(fs, runId);
  if (launch?.spec_path) {
    const { loadSpec } = await import("../spec/load.ts");
    const now = await loadSpec(launch.spec_path).catch((error) => {
      if (error instanceof SpecError && /cannot read/.test(error.message)) return null;
      throw new ResumeRefused(
        `the spec ${launch.spec_path} changed since run ${runId} started and is no longer valid; resume runs the spec the run started with, so restore it, or start a new run with kt-deno run ${launch.spec_path}`,
      );
    });
    if (now && JSON.stringify(now) !== JSON.stringify(pipeline)) {
      throw new ResumeRefused(
        `the spec ${launch.spec_path} changed since run ${runId} started; resume runs the spec the run started with, so restore it, or run the changed spec on purpose as a new run: kt-deno run ${launch.spec_path}`,
      );
    }
  }
  return { pipeline, launch };
}

/** Refuses a run that is Completed or still driven. */
async function checkResumable(fs: DataFs, doc: StateDocument): Promise<void> {
  const beat = await readHeartbeat(fs, doc.pipeline_run_id);
  const refusal = resumeRefusal(doc, livenessOf(beat, new Date()).alive);
  if (!refusal) return;
  const hint = doc.status === "Completed"
    ? "; to run the pipeline again, start a new run with kt-deno run SPEC"
    : beat
    ? `: ${beat.role} pid ${beat.pid} on ${beat.host}, last heartbeat ${beat.heartbeat_at}; stop it with kt-deno cancel ${doc.pipeline_run_id} first`
    : `: nothing records what drives it; if nothing does, mark it with kt-deno cancel ${doc.pipeline_run_id} first`;
  throw new ResumeRefused(`cannot resume: ${refusal}${hint}`);
}
