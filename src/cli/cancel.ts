/**
 * `kt-deno cancel RUN`: stops a run. Locally, it asks the run's launcher on this machine
 * to stop (SIGUSR2), or marks the run when its launcher is gone; on Kubernetes, it deletes
 * the controller Job with foreground propagation, so every Job and pod of the run goes,
 * then marks the run. The state ends `Cancelled`.
 *
 * @module
 */
import type { Command } from "commander";
import { stopRun } from "../run/stop_run.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, commandOnARun } from "./flags.ts";
import { readRunState } from "../records/state_read.ts";

/** Flags of `kt-deno cancel`. */
export interface CancelFlags {
  dataDir: string;
  namespace?: string;
  context?: string;
  /** Most seconds to wait for the run to stop (default 120). */
  timeout?: number;
}

/** Cancels a run; resolves to the exit code. */
export async function cancelCommand(runId: string, flags: CancelFlags): Promise<number> {
  const end = await stopRun(new DataFs(openStorage(flags.dataDir)), runId, {
    timeoutSeconds: flags.timeout ?? 120,
    cluster: { namespace: flags.namespace, context: flags.context },
    readState: () => readRunState(flags.dataDir, runId),
    deleteOnCluster: async (...args) => (await import("../k8s/cancel.ts")).cancelOnCluster(...args),
  });
  switch (end.outcome) {
    case "AlreadyEnded":
      console.log(`run ${runId} is already ${end.status}; nothing to cancel`);
      break;
    case "DeletedOnCluster":
      console.log(`run ${runId} Cancelled: its controller Job, Jobs and pods are deleted`);
      break;
    case "LauncherStopped":
      console.log(`run ${runId} Cancelled: its launcher (pid ${end.pid}) stopped`);
      break;
    case "LauncherGone":
      console.log(`run ${runId} Cancelled (its launcher was gone; nothing was running)`);
      break;
    case "DrivenElsewhere":
      throw new UsageError(
        `run ${runId} is driven by a launcher on host ${end.host} (pid ${end.pid}); cancel it there`,
      );
  }
  return 0;
}

/** The `cancel` subcommand. */
export function cancelSubcommand(exit: (code: number) => void): Command {
  return commandOnARun(
    "cancel",
    "stop a run: its launcher here, or its controller Job on the cluster",
  )
    .option("-n, --namespace <ns>", "the run's namespace (runs on Kubernetes)")
    .option("--context <name>", "kubeconfig context (runs on Kubernetes)")
    .action(async (runId: string, flags: CancelFlags & { s3Endpoint?: string }) => {
      applyS3Flags(flags);
      exit(await cancelCommand(runId, flags));
    });
}
