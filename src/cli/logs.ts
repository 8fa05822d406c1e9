/**
 * `kt-deno logs RUN [JOB[/INDEX]] [-f]`: a run's task logs from its data dir, each line
 * prefixed `job[index]`; with `-f`, follows them until the run ends.
 *
 * @module
 */
import type { Command } from "commander";
import {
  followLogs,
  logFiles,
  type LogSink,
  type LogTarget,
  readNewLines,
  stateWhenWritten,
} from "../records/task_logs.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, commandOnARun } from "./flags.ts";
import { readRunState } from "../records/state_read.ts";

/** Parses `JOB` or `JOB/INDEX`. */
export function parseTarget(text: string | undefined): LogTarget {
  if (text === undefined) return {};
  const match = /^([^/]+)(?:\/(\d+))?$/.exec(text);
  if (!match) {
    throw new UsageError(`expected JOB or JOB/INDEX (such as load/3), got ${JSON.stringify(text)}`);
  }
  return { job: match[1], ...(match[2] === undefined ? {} : { index: Number(match[2]) }) };
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

/** Prints the lines of logs, each prefixed `job[index]`; a refused log is said on stderr. */
const printer: LogSink = {
  lines: (file, lines) => print(lines.map((line) => `${file.prefix} ${line}\n`).join("")),
  refused: (file, why) => console.error(`kt-deno: ${file.prefix}: ${why}`),
};

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
    ? await stateWhenWritten(dataDir, runId, pollMs)
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
  if (!follow) {
    const read = new Map<string, number>();
    await readNewLines(fs, await logFiles(fs, doc, target), read, printer);
    if (target.index !== undefined && !read.size) {
      console.error(`kt-deno: ${target.job}[${target.index}] has no output (yet)`);
    }
    return 0;
  }
  const end = await followLogs(fs, dataDir, doc, target, printer, pollMs);
  if (end.ended) return 0;
  console.error(`kt-deno: run ${runId} is ${end.status}; continue it with kt-deno resume ${runId}`);
  return 1;
}

/** The `logs` subcommand. */
export function logsSubcommand(exit: (code: number) => void): Command {
  return commandOnARun("logs", "print a run's task logs, each line prefixed job[index]")
    .argument("[job]", "only this job (JOB) or this task (JOB/INDEX)")
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
