/**
 * `kt-deno run SPEC`: validates a spec and runs it, here by default.
 *
 * @module
 */
import { Command } from "commander";
import { newRunId } from "../records/run_id.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import type { Pipeline } from "../spec/schema.ts";
import { checkDataDir } from "../storage/open.ts";
import { driveHere } from "../run/drive_here.ts";
import { reportEnd } from "../report/end.ts";
import { UsageError } from "./errors.ts";
import {
  applyS3Flags,
  CLUSTER_FLAGS,
  clusterRunOptions,
  pythonReady,
  type RunFlags,
  withRunFlags,
} from "./flags.ts";

function usesFunctions(pipeline: Pipeline): boolean {
  for (const job of pipeline.jobs) {
    if (job.function !== undefined) return true;
    for (const task of job.tasks ?? []) if (task.function !== undefined) return true;
  }
  return false;
}

/** True when a data dir is a local folder (not an object store). */
function isLocalDir(dataDir: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(dataDir)?.[1]?.toLowerCase();
  return scheme === undefined || scheme === "file";
}

/** The parsed specs kept in a local data dir's cache. */
async function keptSpecs(dataDir: string) {
  const [{ parsedSpecs }, { DataFs }, { openStorage }] = await Promise.all([
    import("../records/cache.ts"),
    import("../storage/data_fs.ts"),
    import("../storage/open.ts"),
  ]);
  return parsedSpecs(new DataFs(openStorage(dataDir)));
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Runs a spec file locally; resolves to the exit code (0 completed, 1 failed or
 * cancelled, 130 interrupted).
 */
export async function runCommand(specPath: string, flags: RunFlags): Promise<number> {
  const { loadSpec } = await import("../spec/load.ts");
  // With --cache on a local data dir, a large YAML spec run again unchanged is not parsed
  // again: its parsed form is kept in the data dir's cache (written once the dir is checked).
  const parsed = flags.cache && flags.image === undefined && isLocalDir(flags.dataDir)
    ? await keptSpecs(flags.dataDir)
    : undefined;
  // A local run's worker starts as soon as the spec is parsed, while it is checked (see
  // executors/prestart.ts); whatever stops the run before it starts discards that worker.
  let early: Promise<{ discard(): Promise<void> }> | undefined;
  try {
    const pipeline = await loadSpec(specPath, parsed, (value) => {
      if (flags.image !== undefined) return;
      const functionsDir = resolveFunctionsDir(flags.functions);
      early = import("../executors/prestart.ts").then((m) => m.prestartWorker(value, functionsDir));
    });
    return await runSpec(pipeline, specPath, flags, parsed);
  } catch (error) {
    await (await early?.catch(() => undefined))?.discard();
    throw error;
  }
}

/** Runs a checked spec: on Kubernetes with `--image`, else here. */
async function runSpec(
  pipeline: Pipeline,
  specPath: string,
  flags: RunFlags,
  parsed: { write(): Promise<void> } | undefined,
): Promise<number> {
  applyS3Flags(flags);
  if (flags.image !== undefined) {
    const { podCountWarnings } = await import("../spec/pod_count.ts");
    for (const line of podCountWarnings(pipeline.jobs)) console.error(`kt-deno: warning: ${line}`);
    const { runOnClusterHere } = await import("../k8s/cluster_here.ts");
    return await runOnClusterHere(
      clusterRunOptions(pipeline, { ...flags, specPath: specPath === "-" ? undefined : specPath }),
    );
  }
  const stray = [...CLUSTER_FLAGS, "waitRetry" as const].find((flag) => flags[flag] !== undefined);
  if (stray) {
    const name = stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    throw new UsageError(
      `--${
        name === "host-path" && flags.hostPath === false ? "no-host-path" : name
      } needs --image (it is for runs on Kubernetes)`,
    );
  }
  const functionsDir = resolveFunctionsDir(flags.functions);
  if (usesFunctions(pipeline) && !await isDirectory(functionsDir)) {
    throw new UsageError(
      `functions folder ${flags.functions} not found (the spec calls functions; set --functions DIR)`,
    );
  }
  await pythonReady(functionsDir);
  await checkDataDir(flags.dataDir, { write: true });
  await parsed?.write().catch(() => {});
  const runId = newRunId();
  console.log(`run id: ${runId}`);
  const { runLocally } = await import("../run/local_run.ts");
  return await driveHere(
    (shown) =>
      runLocally(pipeline, {
        ...shown,
        runId,
        dataDir: flags.dataDir,
        functionsDir,
        concurrency: flags.concurrency,
        specPath: specPath === "-" ? undefined : specPath,
        cache: flags.cache,
      }),
    (doc) => reportEnd(flags.dataDir, doc),
  );
}

/** The `run` subcommand. */
export function runSubcommand(exit: (code: number) => void): Command {
  return withRunFlags(new Command("run"))
    .description("validate a pipeline spec (YAML or JSON) and run it")
    .argument("<spec>", "pipeline spec file, or - for standard input")
    .action(async (spec: string, flags: RunFlags) => exit(await runCommand(spec, flags)));
}
