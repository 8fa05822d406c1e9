/**
 * `kt-deno cancel RUN`: stops a run. Locally, it asks the run's launcher on this machine
 * to stop (SIGTERM), or marks the run when its launcher is gone; on Kubernetes, it deletes
 * the controller Job with foreground propagation, so every Job and pod of the run goes,
 * then marks the run. The state ends `Cancelled`.
 *
 * @module
 */
import { Command } from "commander";
import { until } from "../async/until.ts";
import { cancelRun } from "../engine/reopen.ts";
import { type StateDocument } from "../engine/state.ts";
import { statePath } from "../records/layout.ts";
import {
  type Heartbeat,
  heartbeatOf,
  livenessOf,
  processAlive,
  readHeartbeat,
} from "../records/heartbeat.ts";
import { readKeptSpec } from "../records/kept_spec.ts";
import { heartbeatPath } from "../records/layout.ts";
import { type LaunchRecord, readLaunch } from "../records/launch.ts";
import { PipelineRun } from "../engine/pipeline_run.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, withS3Flags } from "./run.ts";
import { readState } from "./status.ts";

/** Flags of `kt-deno cancel`. */
export interface CancelFlags {
  dataDir: string;
  namespace?: string;
  context?: string;
  /** Most seconds to wait for the run to stop (default 120). */
  timeout?: number;
}

/** Marks a run whose driver is gone (or was deleted) as Cancelled. */
async function markCancelled(fs: DataFs, doc: StateDocument, beat: Heartbeat | null, why: string) {
  const cancelled = cancelRun(doc, why, new Date());
  await fs.writeJson(statePath(doc.pipeline_run_id), cancelled);
  const driver = beat ?? { role: "launcher" as const, pid: 0, host: "" };
  await fs.writeJson(
    heartbeatPath(doc.pipeline_run_id),
    heartbeatOf(cancelled, driver, new Date()),
  );
}

/**
 * The run's state; for a run on Kubernetes whose controller has not written one yet, its
 * first state, from the kept spec.
 */
async function stateOrStart(
  fs: DataFs,
  dataDir: string,
  runId: string,
  launch: LaunchRecord | null,
): Promise<StateDocument> {
  try {
    return await readState(dataDir, runId);
  } catch (error) {
    const pipeline = launch?.namespace === undefined
      ? null
      : await readKeptSpec(fs, runId).catch(() => null);
    if (!pipeline) throw error;
    return PipelineRun.start(runId, pipeline, new Date()).document as StateDocument;
  }
}

function isKtDeno(pid: number): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    return cmdline.includes("kt-deno") || cmdline.includes("main.ts");
  } catch {
    return true;
  }
}

/** Cancels a run; resolves to the exit code. */
export async function cancelCommand(runId: string, flags: CancelFlags): Promise<number> {
  const fs = new DataFs(openStorage(flags.dataDir));
  const launch = await readLaunch(fs, runId);
  const doc = await stateOrStart(fs, flags.dataDir, runId, launch);
  if (doc.status !== "Running") {
    console.log(`run ${runId} is already ${doc.status}; nothing to cancel`);
    return 0;
  }
  const beat = await readHeartbeat(fs, runId);
  const timeout = flags.timeout ?? 120;
  const namespace = flags.namespace ?? beat?.namespace ?? launch?.namespace;
  if (beat?.role === "controller" || namespace !== undefined || flags.context !== undefined) {
    const context = flags.context ?? launch?.context;
    const { cancelOnCluster } = await import("../k8s/cancel.ts");
    await cancelOnCluster(runId, { namespace, context }, timeout);
    const latest = await stateOrStart(fs, flags.dataDir, runId, launch);
    if (latest.status === "Running") {
      await markCancelled(fs, latest, beat, "by kt-deno cancel (controller Job deleted)");
    }
    console.log(`run ${runId} Cancelled: its controller Job, Jobs and pods are deleted`);
    return 0;
  }
  const here = beat?.host === Deno.hostname();
  if (beat && here && processAlive(beat.pid) === true && isKtDeno(beat.pid)) {
    Deno.kill(beat.pid, "SIGTERM");
    await until(`the launcher (pid ${beat.pid}) to stop`, timeout, async () => {
      const now = await readHeartbeat(fs, runId);
      return now?.status !== "Running" || processAlive(beat.pid) === false;
    }, { everyMs: 250, retryErrors: false });
    const latest = await readState(flags.dataDir, runId);
    if (latest.status === "Running") {
      await markCancelled(fs, latest, beat, "by kt-deno cancel (the launcher stopped)");
    }
    console.log(`run ${runId} Cancelled: its launcher (pid ${beat.pid}) stopped`);
    return 0;
  }
  if (beat && livenessOf(beat, new Date()).alive && !here) {
    throw new UsageError(
      `run ${runId} is driven by a launcher on host ${beat.host} (pid ${beat.pid}); cancel it there`,
    );
  }
  await markCancelled(fs, doc, beat, "by kt-deno cancel (its launcher was gone)");
  console.log(`run ${runId} Cancelled (its launcher was gone; nothing was running)`);
  return 0;
}

/** The `cancel` subcommand. */
export function cancelSubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("cancel"))
    .description("stop a run: its launcher here, or its controller Job on the cluster")
    .argument("<run-id>", "the run id that kt-deno run printed")
    .option("--data-dir <dir>", "data dir of the run", "./kt-data")
    .option("-n, --namespace <ns>", "the run's namespace (runs on Kubernetes)")
    .option("--context <name>", "kubeconfig context (runs on Kubernetes)")
    .action(async (runId: string, flags: CancelFlags & { s3Endpoint?: string }) => {
      applyS3Flags(flags);
      exit(await cancelCommand(runId, flags));
    });
}
