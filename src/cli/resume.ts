/**
 * `kt-deno resume RUN`: continues a Failed, Interrupted, Cancelled or abandoned run in
 * place, here or (with `--image` and the other flags of `run`) on the cluster. Completed
 * jobs stay; the rest run again, from the spec kept with the run.
 *
 * @module
 */
import { Command } from "commander";
import { PipelineRun } from "../engine/pipeline_run.ts";
import { reopenRun, resumeRefusal } from "../engine/reopen.ts";
import { type StateDocument } from "../engine/state.ts";
import { livenessOf, readHeartbeat } from "../records/heartbeat.ts";
import { readKeptSpec } from "../records/kept_spec.ts";
import { keptSpecPath } from "../records/layout.ts";
import { type LaunchRecord, readLaunch } from "../records/launch.ts";
import type { Pipeline } from "../spec/schema.ts";
import { SpecError } from "../spec/problems.ts";
import { DataFs } from "../storage/data_fs.ts";
import { checkDataDir, openStorage } from "../storage/open.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, clusterCommand, driveHere, type RunFlags, runSubcommand } from "./run.ts";
import { readState } from "./status.ts";

/** The spec a run is resumed with: the kept one, refused when its spec file has changed since. */
export async function specToResume(
  fs: DataFs,
  runId: string,
): Promise<{ pipeline: Pipeline; launch: LaunchRecord | null }> {
  const pipeline = await readKeptSpec(fs, runId).catch(() => null);
  if (!pipeline) {
    throw new UsageError(
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
      throw new UsageError(
        `the spec ${launch.spec_path} changed since run ${runId} started and is no longer valid; resume runs the spec the run started with, so restore it, or start a new run with kt-deno run ${launch.spec_path}`,
      );
    });
    if (now && JSON.stringify(now) !== JSON.stringify(pipeline)) {
      throw new UsageError(
        `the spec ${launch.spec_path} changed since run ${runId} started; resume runs the spec the run started with, so restore it, or run the changed spec on purpose as a new run: kt-deno run ${launch.spec_path}`,
      );
    }
  }
  return { pipeline, launch };
}

/** Refuses (exit 2) a run that is Completed or still driven. */
async function checkResumable(fs: DataFs, doc: StateDocument): Promise<void> {
  const beat = await readHeartbeat(fs, doc.pipeline_run_id);
  const refusal = resumeRefusal(doc, livenessOf(beat, new Date()).alive);
  if (!refusal) return;
  const hint = doc.status === "Completed"
    ? "; to run the pipeline again, start a new run with kt-deno run SPEC"
    : beat
    ? `: ${beat.role} pid ${beat.pid} on ${beat.host}, last heartbeat ${beat.heartbeat_at}; stop it with kt-deno cancel ${doc.pipeline_run_id} first`
    : `: nothing records what drives it; if nothing does, mark it with kt-deno cancel ${doc.pipeline_run_id} first`;
  throw new UsageError(`cannot resume: ${refusal}${hint}`);
}

/** Resumes a run; resolves to the exit code. */
export async function resumeCommand(runId: string, flags: RunFlags): Promise<number> {
  applyS3Flags(flags);
  const doc = await readState(flags.dataDir, runId);
  const fs = new DataFs(openStorage(flags.dataDir));
  await checkResumable(fs, doc);
  const { pipeline, launch } = await specToResume(fs, runId);
  if (flags.image === undefined && launch?.namespace !== undefined) {
    throw new UsageError(
      `run ${runId} ran on Kubernetes (namespace ${launch.namespace}); resume it there: kt-deno resume ${runId} --image IMAGE --data-dir ${flags.dataDir} and the other flags it was run with`,
    );
  }
  if (flags.image !== undefined) {
    return await clusterCommand(pipeline, flags, { runId, reopened: reopenRun(doc, new Date()) });
  }
  await checkDataDir(flags.dataDir);
  const given = flags.functions !== undefined;
  const functionsDir = resolveFunctionsDir(
    given ? flags.functions : launch?.functions_dir ?? "./kt_functions",
  );
  const run = PipelineRun.resume(reopenRun(doc, new Date()));
  console.log(`run id: ${runId} (resumed)`);
  const { driveLocally } = await import("../run/local_run.ts");
  return await driveHere(flags.dataDir, (shown) =>
    driveLocally(run, fs, {
      ...shown,
      runId,
      dataDir: flags.dataDir,
      functionsDir,
      concurrency: flags.concurrency,
    }));
}

/** The `resume` subcommand: the flags of `run`, and the run id instead of a spec. */
export function resumeSubcommand(exit: (code: number) => void): Command {
  const command = new Command("resume")
    .description(
      "continue a Failed, Interrupted, Cancelled or abandoned run in place: Completed jobs stay, the others run again",
    )
    .argument("<run-id>", "the run id that kt-deno run printed");
  for (const option of runSubcommand(exit).options) {
    if (option.long !== "--functions") command.addOption(option);
  }
  command.option("--functions <dir>", "folder of task function modules (default: the run's)");
  return command.action(async (runId: string, flags: RunFlags) =>
    exit(await resumeCommand(runId, flags))
  );
}
