/**
 * `kt-deno logs RUN [JOB[/INDEX]] [-f]`: a run's task logs from its data dir, each line
 * prefixed `job[index]`; with `-f`, follows them until the run ends.
 *
 * @module
 */
import { Command } from "commander";
import type { StateDocument } from "../engine/state.ts";
import { describeStatus, readHeartbeat } from "../records/heartbeat.ts";
import { controllerLogPath, keptSpecPath, logsDir, taskLogPath } from "../records/layout.ts";
import { DataFs } from "../storage/data_fs.ts";
import { PathEscapeError } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, withS3Flags } from "./flags.ts";
import { readRunState } from "../records/state_read.ts";

/** Which logs to show: every task's, one job's, one task's, or the controller's. */
export interface LogTarget {
  job?: string;
  index?: number;
  controller?: boolean;
}

/** Parses `JOB` or `JOB/INDEX`. */
export function parseTarget(text: string | undefined): LogTarget {
  if (text === undefined) return {};
  const match = /^([^/]+)(?:\/(\d+))?$/.exec(text);
  if (!match) {
    throw new UsageError(`expected JOB or JOB/INDEX (such as load/3), got ${JSON.stringify(text)}`);
  }
  return { job: match[1], ...(match[2] === undefined ? {} : { index: Number(match[2]) }) };
}

interface LogFile {
  prefix: string;
  path: string;
}

/** The log files of a target that exist now, in job order and then by task index. */
async function logFiles(fs: DataFs, doc: StateDocument, target: LogTarget): Promise<LogFile[]> {
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
    const indexes = (await fs.listdir(`${logsDir(runId)}/${job}`).catch(() => [] as string[]))
      .map((name) => /^(\d+)\.log$/.exec(name)?.[1]).filter((i) => i !== undefined)
      .map(Number).sort((a, b) => a - b);
    for (const index of indexes) {
      files.push({ prefix: `${job}[${index}]`, path: taskLogPath(runId, job, index) });
    }
  }
  return files;
}

const encoder = new TextEncoder();

/** Thrown when stdout's reader is gone (`| head -1`): there is no one left to print for. */
class ReaderGone extends Error {}

async function print(text: string): Promise<void> {
  const bytes = encoder.encode(text);
  try {
    for (let sent = 0; sent < bytes.length;) sent += await Deno.stdout.write(bytes.subarray(sent));
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) throw new ReaderGone();
    throw error;
  }
}

/**
 * Prints what each log has beyond what was printed already (whole lines only), and
 * remembers how far it got.
 */
async function printNew(fs: DataFs, files: LogFile[], printed: Map<string, number>) {
  for (const file of files) {
    const from = printed.get(file.path) ?? 0;
    let size: number;
    try {
      size = (await fs.stat(file.path))?.size ?? 0;
    } catch (error) {
      if (!(error instanceof PathEscapeError)) throw error;
      // Said once; a log the data dir's guard refuses is not read again.
      if (from !== Infinity) console.error(`kt-deno: ${file.prefix}: ${error.message}`);
      printed.set(file.path, Infinity);
      continue;
    }
    if (size <= from) continue;
    const bytes = (await fs.readBytes(file.path).catch(() => new Uint8Array())).subarray(from);
    const end = bytes.lastIndexOf(10) + 1;
    if (end === 0) continue;
    printed.set(file.path, from + end);
    const lines = new TextDecoder().decode(bytes.subarray(0, end - 1)).split("\n");
    await print(lines.map((line) => `${file.prefix} ${line}\n`).join(""));
  }
}

/**
 * The run's state; for a run that was launched (its spec is kept) but whose controller has
 * not written its state yet, waits for it.
 */
async function stateWhenWritten(
  fs: DataFs,
  dataDir: string,
  runId: string,
  pollMs: number,
): Promise<StateDocument> {
  while (true) {
    try {
      return await readRunState(dataDir, runId);
    } catch (error) {
      if (!(error instanceof UsageError) || !await fs.exists(keptSpecPath(runId))) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The first names of a list, and how many more there are. */
function someOf(names: string[], shown = 20): string {
  const more = names.length - shown;
  return names.slice(0, shown).join(", ") + (more > 0 ? `, and ${more} more` : "");
}

/** Shows a run's logs; with `follow`, until the run has ended. Resolves to the exit code. */
export async function showLogs(
  dataDir: string,
  runId: string,
  target: LogTarget,
  follow: boolean,
  pollMs = 500,
): Promise<number> {
  const fs = new DataFs(openStorage(dataDir));
  const doc = follow
    ? await stateWhenWritten(fs, dataDir, runId, pollMs)
    : await readRunState(dataDir, runId);
  if (target.job !== undefined && !(target.job in doc.jobs)) {
    throw new UsageError(
      `no job ${target.job} in run ${runId}; its jobs: ${someOf(Object.keys(doc.jobs))}`,
    );
  }
  if (target.job !== undefined && target.index !== undefined) {
    const job = doc.jobs[target.job];
    const count = job.type === "dynamic" ? 1 : job.tasks?.length ?? 0;
    if (target.index >= count) {
      throw new UsageError(
        `no task ${target.index} in job ${target.job} of run ${runId}; its tasks: ${
          count === 0 ? "none" : count === 1 ? "0" : `0 to ${count - 1}`
        }`,
      );
    }
  }
  const printed = new Map<string, number>();
  if (!follow) {
    const files = await logFiles(fs, doc, target);
    await printNew(fs, files, printed);
    if (target.index !== undefined && !printed.size) {
      console.error(`kt-deno: ${target.job}[${target.index}] has no output (yet)`);
    }
    return 0;
  }
  let current = doc;
  while (true) {
    // The driver writes its last heartbeat after the last log lines, so a heartbeat that
    // says the run ended means every line is there to print. The state document (for the
    // job list) is read again only when the run has gained jobs.
    const beat = await readHeartbeat(fs, runId);
    if (!beat || beat.jobs_total !== Object.keys(current.jobs).length) {
      current = await readRunState(dataDir, runId);
    }
    const shown = describeStatus(beat ?? current, beat);
    await printNew(fs, await logFiles(fs, current, target), printed);
    if (shown.gone) {
      console.error(
        `kt-deno: run ${runId} is ${shown.text}; continue it with kt-deno resume ${runId}`,
      );
      return 1;
    }
    if ((beat ?? current).status !== "Running") return 0;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The `logs` subcommand. */
export function logsSubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("logs"))
    .description("print a run's task logs, each line prefixed job[index]")
    .argument("<run-id>", "the run id that kt-deno run printed")
    .argument("[job]", "only this job (JOB) or this task (JOB/INDEX)")
    .option("--data-dir <dir>", "data dir of the run", "./kt-data")
    .option("-f, --follow", "keep printing new lines until the run ends")
    .option("--controller", "the controller's log (runs on Kubernetes)")
    .action(async (
      runId: string,
      job: string | undefined,
      flags: {
        dataDir: string;
        follow?: boolean;
        controller?: boolean;
        s3Endpoint?: string;
        s3PathStyle?: boolean;
      },
    ) => {
      applyS3Flags(flags);
      const target = flags.controller ? { controller: true } : parseTarget(job);
      try {
        exit(await showLogs(flags.dataDir, runId, target, flags.follow ?? false));
      } catch (error) {
        if (!(error instanceof ReaderGone)) throw error;
        exit(0);
      }
    });
}
