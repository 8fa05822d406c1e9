/**
 * `kt-deno run SPEC`: validates a spec and runs it, here by default.
 *
 * @module
 */
import { Command } from "commander";
import type { PipelineRun } from "../engine/pipeline_run.ts";
import { defaultConcurrency } from "../executors/local.ts";
import { runLocally } from "../run/local_run.ts";
import { newRunId } from "../run/run_id.ts";
import { loadSpec } from "../spec/load.ts";
import type { Pipeline } from "../spec/schema.ts";
import { positiveInt, UsageError } from "./errors.ts";
import { progressView } from "./progress.ts";

/** Options of `kt-deno run`. */
export interface RunFlags {
  dataDir: string;
  functions: string;
  concurrency?: number;
}

function usesFunctions(pipeline: Pipeline): boolean {
  return pipeline.jobs.some((job) =>
    job.function !== undefined || (job.tasks ?? []).some((task) => task.function !== undefined)
  );
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Runs a spec file locally; resolves to the exit code (0 completed, 1 failed, 130 interrupted). */
export async function runCommand(specPath: string, flags: RunFlags): Promise<number> {
  const pipeline = await loadSpec(specPath);
  if (usesFunctions(pipeline) && !await isDirectory(flags.functions)) {
    throw new UsageError(
      `functions folder ${flags.functions} not found (the spec calls functions; set --functions DIR)`,
    );
  }
  const runId = newRunId();
  console.log(`run id: ${runId}`);
  const view = progressView();
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) Deno.exit(130);
    abort.abort("SIGINT");
  };
  Deno.addSignalListener("SIGINT", onSigint);
  let run: PipelineRun;
  try {
    run = await runLocally(pipeline, {
      runId,
      dataDir: flags.dataDir,
      functionsDir: flags.functions,
      concurrency: flags.concurrency,
      signal: abort.signal,
      events: { progress: (p) => view.tasks(p), log: (job, i, line) => view.log(job, i, line) },
      onChange: (r) => view.update(r),
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  view.close(run);
  console.log(
    `run ${runId} ${run.status}; state: kt-metadata/${runId}/pipeline_run_state.json in ${flags.dataDir}`,
  );
  return run.status === "Completed" ? 0 : run.status === "Interrupted" ? 130 : 1;
}

/** The `run` subcommand. */
export function runSubcommand(exit: (code: number) => void): Command {
  return new Command("run")
    .description("validate a pipeline spec (YAML or JSON) and run it")
    .argument("<spec>", "pipeline spec file")
    .option("--data-dir <dir>", "data dir: a local folder or s3://bucket/prefix", "./kt-data")
    .option("--functions <dir>", "folder of task function modules", "./kt_functions")
    .option(
      "--concurrency <n>",
      `most tasks running at once (default: CPU count, ${defaultConcurrency()})`,
      positiveInt("--concurrency"),
    )
    .action(async (spec: string, flags: RunFlags) => exit(await runCommand(spec, flags)));
}
