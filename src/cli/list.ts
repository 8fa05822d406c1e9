/**
 * `kt-deno list`: the runs in a data dir, newest first. Reads one small file per run
 * (its heartbeat), the state document only for a run that has none.
 *
 * @module
 */
import { Command } from "commander";
import { formatDuration } from "../records/heartbeat.ts";
import { listRuns, type RunSummary } from "../records/runs.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { formatTable } from "./table.ts";
import { applyS3Flags, withS3Flags } from "./flags.ts";

/** The summaries as a text table. */
export function formatRuns(runs: RunSummary[]): string {
  const cluster = runs.some((run) => run.controller_job !== undefined);
  const scheduled = runs.some((run) => run.schedule !== undefined);
  const rows = [[
    "RUN",
    "PIPELINE",
    "STATUS",
    "STARTED",
    "DURATION",
    "JOBS",
    ...(scheduled ? ["SCHEDULE"] : []),
    ...(cluster ? ["CONTROLLER"] : []),
  ]];
  for (const run of runs) {
    rows.push([
      run.run_id,
      run.pipeline_name,
      run.shown_status,
      run.created_at.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      formatDuration(run.duration_seconds * 1000),
      `${run.jobs_completed}/${run.jobs_total}`,
      ...(scheduled ? [run.schedule ?? "-"] : []),
      ...(cluster ? [run.controller_job ? "exists" : "-"] : []),
    ]);
  }
  return formatTable(rows);
}

/** The `list` subcommand. */
export function listSubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("list"))
    .description("list the runs in a data dir, newest first")
    .option("--data-dir <dir>", "data dir", "./kt-data")
    .option("-o, --output <format>", "table or json", "table")
    .option("-n, --namespace <ns>", "also say which runs have a controller Job in this namespace")
    .option("--context <name>", "kubeconfig context for the controller Jobs")
    .action(async (flags: {
      dataDir: string;
      output: string;
      namespace?: string;
      context?: string;
      s3Endpoint?: string;
      s3PathStyle?: boolean;
    }) => {
      applyS3Flags(flags);
      if (flags.output !== "table" && flags.output !== "json") {
        throw new UsageError(`--output must be table or json, got ${JSON.stringify(flags.output)}`);
      }
      const runs = await listRuns(new DataFs(openStorage(flags.dataDir)));
      if (flags.namespace !== undefined || flags.context !== undefined) {
        const { controllerJobRuns } = await import("../k8s/list.ts");
        const jobs = await controllerJobRuns(flags);
        for (const run of runs) run.controller_job = jobs.has(run.run_id);
      }
      if (flags.output === "json") console.log(JSON.stringify(runs, null, 2));
      else if (runs.length === 0) console.log(`no runs in data dir ${flags.dataDir}`);
      else console.log(formatRuns(runs));
      exit(0);
    });
}
