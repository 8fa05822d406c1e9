/**
 * `kt-deno list`: the runs in a data dir, newest first. Reads one small file per run
 * (its heartbeat), the state document only for a run that has none.
 *
 * @module
 */
import { Command } from "commander";
import { type StateDocument } from "../engine/state.ts";
import { METADATA_ROOT } from "../records/layout.ts";
import { CorruptRecordError, readStateDocument } from "../records/state_read.ts";
import {
  describeStatus,
  formatDuration,
  type Heartbeat,
  heartbeatOf,
  readHeartbeat,
} from "../records/heartbeat.ts";
import { isRunId } from "../records/run_id.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, withS3Flags } from "./run.ts";

/** One run as `list` shows it. */
export interface RunSummary {
  run_id: string;
  pipeline_name: string;
  status: string;
  /** The status with what is known of its driver: `Running (no heartbeat for 3m: ...)`. */
  shown_status: string;
  created_at: string;
  finished_at?: string;
  duration_seconds: number;
  jobs_completed: number;
  jobs_total: number;
  /** With --namespace or --context: whether the run's controller Job exists. */
  controller_job?: boolean;
  /** The schedule that started the run. */
  schedule?: string;
}

const PARALLEL_READS = 16;

/** Summaries of every run in a data dir, newest first. */
export async function listRuns(fs: DataFs, now = new Date()): Promise<RunSummary[]> {
  const ids = (await fs.listdir(METADATA_ROOT).catch(() => [] as string[])).filter(isRunId);
  const found: RunSummary[] = [];
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const summary = await summarize(fs, ids[i], now);
      if (summary) found.push(summary);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, ids.length) }, reader));
  return found.sort((a, b) => b.created_at.localeCompare(a.created_at));
}

async function summarize(fs: DataFs, runId: string, now: Date): Promise<RunSummary | null> {
  let beat: Heartbeat | null = await readHeartbeat(fs, runId);
  let summary = beat;
  if (!summary) {
    let doc: StateDocument;
    try {
      doc = await readStateDocument(fs, runId);
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) return null;
      return unreadable(runId, error);
    }
    summary = heartbeatOf(doc, { role: "launcher", pid: 0, host: "" }, now);
    beat = null;
  }
  const shown = describeStatus(summary, beat, now);
  const end = summary.finished_at ?? (shown.gone ? beat!.heartbeat_at : now.toISOString());
  return {
    run_id: runId,
    pipeline_name: summary.pipeline_name,
    status: summary.status,
    shown_status: shown.text,
    created_at: summary.created_at,
    ...(summary.finished_at ? { finished_at: summary.finished_at } : {}),
    duration_seconds: Math.max(0, (Date.parse(end) - Date.parse(summary.created_at)) / 1000),
    jobs_completed: summary.jobs_completed,
    jobs_total: summary.jobs_total,
    ...(beat?.schedule ? { schedule: beat.schedule } : {}),
  };
}

/** A run whose state cannot be read: listed as such, so that the others still are. */
function unreadable(runId: string, error: CorruptRecordError): RunSummary {
  return {
    run_id: runId,
    pipeline_name: "?",
    status: "Unreadable",
    shown_status: `Unreadable (state: ${error.reason})`,
    created_at: "",
    duration_seconds: 0,
    jobs_completed: 0,
    jobs_total: 0,
  };
}

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

/** Rows of cells as a text table: columns padded to their widest cell, two spaces apart. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) =>
    rows.reduce((most, row) => Math.max(most, row[c].length), 0)
  );
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd())
    .join("\n");
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
