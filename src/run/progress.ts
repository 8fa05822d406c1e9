/**
 * Showing a run's progress: a live table of jobs on a terminal, plain log lines otherwise.
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import type { JobProgress } from "../executors/executor.ts";
import { frameLines } from "./live_frame.ts";

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

/** Set once stderr cannot be written (a closed pipe, `2>&-`): progress then goes unshown. */
let stderrGone = false;

/** What {@linkcode encode} encodes short texts into: a UTF-16 unit is at most 3 bytes. */
const buffer = new Uint8Array(64 * 1024);

/**
 * A text as UTF-8: a short one in {@linkcode buffer}, used again for each (a new array for
 * each of a run's 20,000 status lines, outside the heap, cost more than writing it).
 */
function encode(text: string): Uint8Array {
  if (text.length * 3 > buffer.length) return encoder.encode(text);
  return buffer.subarray(0, encoder.encodeInto(text, buffer).written);
}

/** Text waiting for the end of this turn of the event loop (see {@linkcode write}). */
let pending = "";
let flushTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * Writes to stderr at the end of this turn of the event loop, with what else was written
 * meanwhile: the 64 jobs of a worker's batch end in one turn, and their 64 lines cost one
 * write, not 64 (a large text goes at once). Output it cannot write is dropped, never
 * thrown: the run goes on, and its progress is still in the data dir's logs and state.
 */
function write(text: string): void {
  if (stderrGone) return;
  pending += text;
  if (pending.length >= buffer.length / 3) flush();
  else flushTimer ??= setTimeout(flush, 0);
}

/** Called once at the next flush, to write what a view held back until then. */
const beforeFlush = new Set<() => void>();

/** Writes what {@linkcode write} holds now. */
function flush(): void {
  // First, as they write (which would set the timer again).
  for (const hook of beforeFlush) {
    beforeFlush.delete(hook);
    hook();
  }
  clearTimeout(flushTimer);
  flushTimer = undefined;
  const bytes = encode(pending);
  pending = "";
  if (stderrGone) return;
  try {
    for (let sent = 0; sent < bytes.length;) sent += Deno.stderr.writeSync(bytes.subarray(sent));
  } catch {
    stderrGone = true;
  }
}

// A process that ends without closing its view (an error) still shows what it said.
globalThis.addEventListener("unload", flush);

/**
 * Plain lines on stderr: one when a job changes status, one per task output line. The
 * status lines of a turn of the event loop are made once, when its output is written (a
 * batch's 64 jobs end in one turn: one look at what changed, not 64).
 */
export class PlainProgress implements ProgressView {
  readonly #seen = new Map<string, string>();
  /** The run as last shown, and its version then. */
  #shown?: PipelineRun;
  #version = 0;
  /** The run to show at the next flush. */
  #next?: PipelineRun;
  readonly #show = () => {
    if (this.#next) this.#lines(this.#next);
    this.#next = undefined;
  };

  update(run: PipelineRun): void {
    if (stderrGone) return;
    this.#next = run;
    beforeFlush.add(this.#show);
    flushTimer ??= setTimeout(flush, 0);
  }

  #lines(run: PipelineRun): void {
    // The same run again: only the jobs that changed since (a cost that does not grow with it).
    const jobs = run === this.#shown ? run.changedSince(this.#version) : run.jobs();
    this.#shown = run;
    this.#version = run.version;
    let lines = "";
    let now: string | undefined;
    for (const job of jobs) {
      if (this.#seen.get(job.name) === job.status) continue;
      this.#seen.set(job.name, job.status);
      if (job.status === "Pending") continue;
      const detail = job.error ? `: ${job.error}` : "";
      // One time for the changes seen at once (a batch's 64 jobs end together).
      now ??= new Date().toISOString();
      lines += `${now} ${job.name} ${job.status}${detail}\n`;
    }
    if (lines) write(lines);
  }

  tasks(): void {}

  log(job: string, index: number, line: string): void {
    write(`${job}[${index}] ${line}\n`);
  }

  close(run: PipelineRun): void {
    this.#next = run;
    beforeFlush.add(this.#show);
    flush();
  }
}

/** The terminal's size, or 24 by 80 when it cannot be known. */
function consoleSize(): { rows: number; columns: number } {
  try {
    const { rows, columns } = Deno.consoleSize();
    if (rows > 0 && columns > 0) return { rows, columns };
  } catch {
    // not a terminal after all
  }
  return { rows: 24, columns: 80 };
}

/**
 * A table of jobs redrawn in place on a terminal, at most ten times a second, that fits
 * the terminal as it is at each draw (`live_frame.ts`): the frame never scrolls, so
 * erasing it leaves nothing behind. Task output lines are printed above it, in batches
 * with the next draw. After the run, one last frame stays.
 */
export class TerminalProgress implements ProgressView {
  readonly #tasks = new Map<string, JobProgress>();
  #run?: PipelineRun;
  /** Widths (in characters) of the lines drawn, to erase them even after a resize. */
  #drawn: number[] = [];
  #logs: string[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  readonly #onResize = () => this.#schedule();

  constructor() {
    try {
      Deno.addSignalListener("SIGWINCH", this.#onResize);
    } catch {
      // no SIGWINCH here: the next draw picks the new size up
    }
  }

  update(run: PipelineRun): void {
    this.#run = run;
    this.#schedule();
  }

  tasks(progress: JobProgress): void {
    this.#tasks.set(progress.job, progress);
    this.#schedule();
  }

  log(job: string, index: number, line: string): void {
    this.#logs.push(`${job}[${index}] ${line}`);
    this.#schedule();
  }

  close(run: PipelineRun): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      Deno.removeSignalListener("SIGWINCH", this.#onResize);
    } catch {
      // never added
    }
    this.#run = run;
    this.#redraw();
    flush();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#redraw();
    }, 100);
  }

  #redraw(): void {
    const { rows, columns } = consoleSize();
    // Lines drawn wider than the terminal is now were wrapped by it on the resize.
    let up = 0;
    for (const width of this.#drawn) up += Math.max(1, Math.ceil(width / columns));
    const lines = this.#run ? frameLines(this.#run.jobs(), this.#tasks, rows, columns) : [];
    // Back to the frame's first line, then write over it, each line cleared to its end,
    // and clear what is left below. (Clearing from the screen's top-left corner instead
    // would make tmux keep the old frame in its scrollback.)
    let text = up ? `\x1b[${up}F` : "";
    for (const line of this.#logs) text += `${line}\x1b[K\n`;
    for (const line of lines) text += `${line}\x1b[K\n`;
    if (this.#logs.length + lines.length > 0) text += "\x1b[J";
    else if (up) text += `${"\x1b[2K\n".repeat(up)}\x1b[${up}F`;
    this.#logs = [];
    this.#drawn = lines.map((line) => Array.from(line).length);
    write(text);
  }
}

/**
 * The view that fits stderr: a live table on a terminal, plain lines otherwise (a pipe, a
 * file, `TERM=dumb`, or CI, where a terminal may be emulated but its log is read later).
 */
export function progressView(): ProgressView {
  const plain = !Deno.stderr.isTerminal() || Deno.env.get("TERM") === "dumb" ||
    !!Deno.env.get("CI");
  return plain ? new PlainProgress() : new TerminalProgress();
}
