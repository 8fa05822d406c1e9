/**
 * Reading a run's logs from its data dir: which log files a target names, what each has
 * beyond what was read already (whole lines only), and, to follow a run, reading them
 * again until the run has ended. `kt-deno logs` prints what this reads.
 *
 * @module
 */
import { until } from "../async/until.ts";
import type { StateDocument } from "../engine/state.ts";
import { PathEscapeError } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { DataFs } from "../storage/data_fs.ts";
import { describeStatus, readHeartbeat } from "./heartbeat.ts";
import {
  controllerLogPath,
  jobLogsDir,
  keptSpecPath,
  logsDir,
  taskLogIndex,
  taskLogPath,
} from "./layout.ts";
import { readRunState, UnknownRunError } from "./state_read.ts";

/** Which logs to show: every task's, one job's, one task's, or the controller's. */
export interface LogTarget {
  job?: string;
  index?: number;
  controller?: boolean;
}

/** One log file, and the prefix of its lines (`job[index]`). */
export interface LogFile {
  prefix: string;
  path: string;
}

/** The log files of a target that exist now, in job order and then by task index. */
export async function logFiles(
  fs: DataFs,
  doc: StateDocument,
  target: LogTarget,
): Promise<LogFile[]> {
  const runId = doc.pipeline_run_id;
  if (target.controller) return [{ prefix: "controller", path: controllerLogPath(runId) }];
  if (target.job !== undefined && target.index !== undefined) {
    return [{
      prefix: `${target.job}[${target.index}]`,
      path: taskLogPath(runId, target.job, target.index),
    }];
  }
  const present = new Set(await fs.listdir(logsDir(runId)).catch(() => [] as string[]));
  const jobs = target.job !== undefined ? [target.job] : Object.keys(doc.jobs);
  const files: LogFile[] = [];
  for (const job of jobs) {
    if (!present.has(job)) continue;
    const indexes = (await fs.listdir(jobLogsDir(runId, job)).catch(() => [] as string[]))
      .map(taskLogIndex).filter((i) => i !== undefined).sort((a, b) => a - b);
    for (const index of indexes) {
      files.push({ prefix: `${job}[${index}]`, path: taskLogPath(runId, job, index) });
    }
  }
  return files;
}

/** What a reader of logs is told: new whole lines of a file, and a log it may not read. */
export interface LogSink {
  lines(file: LogFile, lines: string[]): Promise<void>;
  refused(file: LogFile, why: string): void;
}

/**
 * Hands `sink` what each log has beyond what was read already (whole lines only), and
 * remembers in `read` how far it got.
 */
export async function readNewLines(
  fs: DataFs,
  files: LogFile[],
  read: Map<string, number>,
  sink: LogSink,
): Promise<void> {
  for (const file of files) {
    const from = read.get(file.path) ?? 0;
    let size: number;
    try {
      size = (await fs.stat(file.path))?.size ?? 0;
    } catch (error) {
      if (!(error instanceof PathEscapeError)) throw error;
      // Said once; a log the data dir's guard refuses is not read again.
      if (from !== Infinity) sink.refused(file, error.message);
      read.set(file.path, Infinity);
      continue;
    }
    if (size <= from) continue;
    const bytes = (await fs.readBytes(file.path).catch(() => new Uint8Array())).subarray(from);
    const end = bytes.lastIndexOf(10) + 1;
    if (end === 0) continue;
    read.set(file.path, from + end);
    await sink.lines(file, new TextDecoder().decode(bytes.subarray(0, end - 1)).split("\n"));
  }
}

/**
 * The run's state; for a run that was launched (its spec is kept) but whose controller has
 * not written its state yet, waits for it.
 */
export async function stateWhenWritten(
  dataDir: string,
  runId: string,
  pollMs: number,
): Promise<StateDocument> {
  const fs = new DataFs(openStorage(dataDir));
  return await until(`the state of run ${runId}`, Infinity, async () => {
    try {
      return await readRunState(dataDir, runId);
    } catch (error) {
      if (!(error instanceof UnknownRunError) || !await fs.exists(keptSpecPath(runId))) {
        throw error;
      }
      return undefined;
    }
  }, { everyMs: pollMs, retryErrors: false });
}

/** How following a run's logs ended: the run ended, or its driver is gone (with its status). */
export type FollowEnd = { ended: true } | { ended: false; status: string };

/**
 * Reads a run's logs until the run has ended, handing new lines to `sink` every `pollMs`.
 * The driver writes its last heartbeat after the last log lines, so a heartbeat that says
 * the run ended means every line has been read. The state document (for the job list) is
 * read again only when the run has gained jobs.
 */
export async function followLogs(
  fs: DataFs,
  dataDir: string,
  doc: StateDocument,
  target: LogTarget,
  sink: LogSink,
  pollMs: number,
): Promise<FollowEnd> {
  const runId = doc.pipeline_run_id;
  const read = new Map<string, number>();
  let current = doc;
  return await until(`the end of run ${runId}`, Infinity, async (): Promise<FollowEnd | null> => {
    const beat = await readHeartbeat(fs, runId);
    if (!beat || beat.jobs_total !== Object.keys(current.jobs).length) {
      current = await readRunState(dataDir, runId);
    }
    const shown = describeStatus(beat ?? current, beat);
    await readNewLines(fs, await logFiles(fs, current, target), read, sink);
    if (shown.gone) return { ended: false, status: shown.text };
    return (beat ?? current).status !== "Running" ? { ended: true } : null;
  }, { everyMs: pollMs, retryErrors: false });
}
