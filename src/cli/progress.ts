/**
 * Showing a run's progress: a live table of jobs on a terminal, plain log lines otherwise.
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import type { JobProgress } from "../executors/executor.ts";

const encoder = new TextEncoder();

/** Receives what a run reports and shows it. */
export interface ProgressView {
  /** The run's state changed. */
  update(run: PipelineRun): void;
  /** A job's task counts changed. */
  tasks(progress: JobProgress): void;
  /** A task wrote a line of output. */
  log(job: string, index: number, line: string): void;
  /** The run is over: draw the last state. */
  close(run: PipelineRun): void;
}

function write(text: string): void {
  const bytes = encoder.encode(text);
  for (let sent = 0; sent < bytes.length;) sent += Deno.stderr.writeSync(bytes.subarray(sent));
}

/** Plain lines on stderr: one when a job changes status, one per task output line. */
export class PlainProgress implements ProgressView {
  readonly #seen = new Map<string, string>();
  #run?: PipelineRun;
  #version = 0;

  update(run: PipelineRun): void {
    // The same run again: only the jobs that changed since (a cost that does not grow with it).
    const jobs = run === this.#run ? run.changedSince(this.#version) : run.jobs();
    this.#run = run;
    this.#version = run.version;
    let lines = "";
    for (const job of jobs) {
      if (this.#seen.get(job.name) === job.status) continue;
      this.#seen.set(job.name, job.status);
      if (job.status === "Pending") continue;
      const detail = job.error ? `: ${job.error}` : "";
      lines += `${new Date().toISOString()} ${job.name} ${job.status}${detail}\n`;
    }
    if (lines) write(lines);
  }

  tasks(): void {}

  log(job: string, index: number, line: string): void {
    write(`${job}[${index}] ${line}\n`);
  }

  close(run: PipelineRun): void {
    this.update(run);
  }
}

const MARK: Record<string, string> = {
  Pending: "·",
  Running: "▶",
  AwaitingDescendants: "…",
  Completed: "✔",
  Failed: "✘",
  SkippedDueToUpstreamFailure: "-",
  DescendantFailed: "✘",
};

/** A table of jobs redrawn in place on a terminal (at most ten times a second). */
export class TerminalProgress implements ProgressView {
  readonly #tasks = new Map<string, JobProgress>();
  #run?: PipelineRun;
  #drawn = 0;
  #timer?: ReturnType<typeof setTimeout>;

  update(run: PipelineRun): void {
    this.#run = run;
    this.#schedule();
  }

  tasks(progress: JobProgress): void {
    this.#tasks.set(progress.job, progress);
    this.#schedule();
  }

  log(job: string, index: number, line: string): void {
    this.#erase();
    write(`${job}[${index}] ${line}\n`);
    this.#draw();
  }

  close(run: PipelineRun): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#run = run;
    this.#erase();
    this.#draw();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#erase();
      this.#draw();
    }, 100);
  }

  #erase(): void {
    if (this.#drawn) write(`\x1b[${this.#drawn}F\x1b[0J`);
    this.#drawn = 0;
  }

  #draw(): void {
    if (!this.#run) return;
    const jobs = this.#run.jobs();
    const width = Math.min(40, Math.max(...jobs.map((job) => job.name.length), 3));
    const lines = jobs.map((job) => {
      const t = this.#tasks.get(job.name);
      const counts = t
        ? `${t.succeeded}/${t.total} done, ${t.running} running, ${t.failed} failed`
        : "";
      return `${MARK[job.status]} ${job.name.padEnd(width)} ${job.status.padEnd(19)} ${counts}`;
    });
    write(lines.map((line) => line + "\n").join(""));
    this.#drawn = lines.length;
  }
}

/** The view that fits stderr: a live table on a terminal, plain lines otherwise. */
export function progressView(): ProgressView {
  return Deno.stderr.isTerminal() ? new TerminalProgress() : new PlainProgress();
}
