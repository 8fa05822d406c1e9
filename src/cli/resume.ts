/**
 * `kt-deno resume RUN`: continues a Failed, Interrupted, Cancelled or abandoned run in
 * place, here or (with `--image` and the other flags of `run`) on the cluster. Completed
 * jobs stay; the rest run again, from the spec kept with the run.
 *
 * @module
 */
import { Command } from "commander";
import { PipelineRun } from "../engine/pipeline_run.ts";
import { reopenRun } from "../engine/reopen.ts";
import { planResume } from "../run/resume_plan.ts";
import { DataFs } from "../storage/data_fs.ts";
import { checkDataDir, openStorage } from "../storage/open.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import { UsageError } from "./errors.ts";
import {
  applyS3Flags,
  clusterRunOptions,
  pythonReady,
  type RunFlags,
  withRunFlags,
} from "./flags.ts";
import { driveHere } from "../run/drive_here.ts";
import { reportEnd } from "../report/end.ts";
import { readRunState } from "../records/state_read.ts";

/** Resumes a run; resolves to the exit code. */
export async function resumeCommand(runId: string, flags: RunFlags): Promise<number> {
  applyS3Flags(flags);
  const doc = await readRunState(flags.dataDir, runId);
  const fs = new DataFs(openStorage(flags.dataDir));
  const { pipeline, launch } = await planResume(fs, doc);
  // A run started with --cache keeps using it.
  const cache = flags.cache || launch?.cache === true || undefined;
  if (flags.image === undefined && launch?.namespace !== undefined) {
    throw new UsageError(
      `run ${runId} ran on Kubernetes (namespace ${launch.namespace}); resume it there: kt-deno resume ${runId} --image IMAGE --data-dir ${flags.dataDir} and the other flags it was run with`,
    );
  }
  if (flags.image !== undefined) {
    const { runOnClusterHere } = await import("../k8s/cluster_here.ts");
    return await runOnClusterHere(
      clusterRunOptions(pipeline, { ...flags, cache }, {
        runId,
        reopened: reopenRun(doc, new Date()),
      }),
    );
  }
  await checkDataDir(flags.dataDir, { write: true });
  const given = flags.functions !== undefined;
  const functionsDir = resolveFunctionsDir(
    given ? flags.functions : launch?.functions_dir ?? "./kt_functions",
  );
  await pythonReady(functionsDir);
  const run = PipelineRun.resume(reopenRun(doc, new Date()));
  console.log(`run id: ${runId} (resumed)`);
  const { driveLocally } = await import("../run/local_run.ts");
  return await driveHere(
    (shown) =>
      driveLocally(run, fs, {
        ...shown,
        runId,
        dataDir: flags.dataDir,
        functionsDir,
        concurrency: flags.concurrency,
        resuming: true,
        cache,
      }),
    (doc) => reportEnd(flags.dataDir, doc),
  );
}

/** The `resume` subcommand: the flags of `run`, and the run id instead of a spec. */
export function resumeSubcommand(exit: (code: number) => void): Command {
  const command = new Command("resume")
    .description(
      "continue a Failed, Interrupted, Cancelled or abandoned run in place: Completed jobs stay, the others run again",
    )
    .argument("<run-id>", "the run id that kt-deno run printed");
  for (const option of withRunFlags(new Command()).options) {
    if (option.long !== "--functions") command.addOption(option);
  }
  command.option("--functions <dir>", "folder of task function modules (default: the run's)");
  return command.action(async (runId: string, flags: RunFlags) =>
    exit(await resumeCommand(runId, flags))
  );
}
