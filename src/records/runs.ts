/**
 * The runs of a data dir: their ids (the folders of the metadata root), read a few at a
 * time, and the summary of each that `list` shows. `prune` reads them the same way.
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { describeStatus, type Heartbeat, heartbeatOf, readHeartbeat } from "./heartbeat.ts";
import { METADATA_ROOT } from "./layout.ts";
import { isRunId } from "./run_id.ts";
import { CorruptRecordError, readStateDocument } from "./state_read.ts";

const PARALLEL_READS = 16;

/**
 * Reads every run of a data dir with `read` (at most 16 at once), in no set order; runs
 * for which it gives null are left out.
 */
export async function readEachRun<T>(
  fs: DataFs,
  read: (runId: string) => Promise<T | null>,
): Promise<T[]> {
  const ids = (await fs.listdir(METADATA_ROOT).catch(() => [] as string[])).filter(isRunId);
  const found: T[] = [];
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const value = await read(ids[i]);
      if (value !== null) found.push(value);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, ids.length) }, reader));
  return found;
}

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

/** Summaries of every run in a data dir, newest first. */
export async function listRuns(fs: DataFs, now = new Date()): Promise<RunSummary[]> {
  const found = await readEachRun(fs, (runId) => summarize(fs, runId, now));
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
