/**
 * One long-lived Python worker process (`py/kt_worker.py`) and the pipes to it: batches of
 * tasks (a frame each) and file-operation answers go down its stdin, file operations and
 * outcomes come up its stdout, and the task's own output (stdout and stderr of the task's
 * code) comes up its stderr, ended after each task by a line holding the worker's nonce.
 *
 * The worker runs each task in its own process, or in a child it forks per task with
 * `KT_PYTHON_FORK=1` (see `py/kt_worker.py`); this side serves the task's file operations
 * through the data dir's {@linkcode DataFs}.
 *
 * @module
 */
import { METADATA_ROOT } from "../../records/layout.ts";
import { DataFs } from "../../storage/data_fs.ts";
import { FsRecorder, type Observed } from "../../storage/fs_recorder.ts";
import { openStorage } from "../../storage/open.ts";
import { readLines } from "../../async/lines.ts";
import { killTree, memoryLimit, memoryWatch } from "../memory_watch.ts";
import { type GroupProcess, spawnInGroup } from "../process_group.ts";
import { argsFile, argsJson, taskEnv, type TaskRequest } from "../request.ts";
import type { FunctionModule } from "../function_lookup.ts";
import { encodeFrame, type Frame, readFrames } from "./frames.ts";
import { serveFs } from "./fs_service.ts";
import { FsStreams } from "./fs_streams.ts";
import { checkPython, MIN_PYTHON, pythonProgram } from "./python_check.ts";
import { pythonWorkerScript } from "./sources.ts";

/**
 * How a Python task ended: `jobs` is a dynamic job's returned list, as JSON; `observed`,
 * with `request.record`, what it did through `fsutil` and `kt_deno`; `notRun` when its
 * worker ended before it began.
 */
export type PythonOutcome =
  | { ok: true; jobs?: string; observed?: Observed }
  | { ok: false; error: string; notRun?: true };

/** A task for a worker: its request, its function, and where its output lines go. */
export interface PythonTask {
  request: TaskRequest;
  found: FunctionModule;
  output: (line: string) => void;
}

/** A task handed to the worker and not ended. */
interface Sent {
  request: TaskRequest;
  output: (line: string) => void;
  fs: DataFs;
  recorder?: FsRecorder;
  /** Its `KT_JOB_ARGS_FILE`, removed when it ends. */
  file?: string;
  done?: Frame;
  outputEnded: boolean;
  finish: (outcome: PythonOutcome) => void;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * A Python worker: runs the tasks it is given one after the other, each alone, as many as
 * it is given. The tasks of one {@linkcode PythonWorker.runBatch} go down in one frame, so
 * that the worker goes from one to the next without waiting for kt-deno.
 *
 * @example
 * ```ts ignore
 * const worker = await PythonWorker.start();
 * const outcome = await worker.run(request, found, (line) => console.log(line));
 * await worker.close();
 * ```
 */
export class PythonWorker {
  readonly #group: GroupProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #nonce = crypto.randomUUID();
  readonly #stores = new Map<string, DataFs>();
  readonly #streams = new FsStreams();
  readonly #ready: Promise<void>;
  readonly exited: Promise<Deno.CommandStatus>;
  /** The tasks sent and not ended, in order: the first is the one it runs (or just ran). */
  #sent: Sent[] = [];
  /** Which of `#sent` the worker's frames speak of now: done frames move it on. */
  #framesAt = 0;
  /** Which of `#sent` the worker's output is of now: the nonce line moves it on. */
  #outputAt = 0;
  /** Ends the memory watch, which runs while it has tasks (those of one batch's memory). */
  #unwatch?: () => void;
  /** Batches are written one after the other. */
  #writing: Promise<void> = Promise.resolve();
  #early: string[] = [];
  #nextId = 0;
  #outOfMemory = false;
  alive = true;

  private constructor(script: string) {
    this.#group = spawnInGroup(pythonProgram(), {
      // The worker checks its Python against MIN_PYTHON, its one home.
      args: ["-u", script, MIN_PYTHON.join(".")],
      env: { KT_WORKER_NONCE: this.#nonce },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
    const child = this.#group.child;
    this.#stdin = child.stdin.getWriter();
    let ready!: () => void;
    this.#ready = new Promise((resolve) => ready = resolve);
    const frames = (async () => {
      for await (const frame of readFrames(child.stdout)) {
        if (frame.header.t === "ready") ready();
        else if (frame.header.t === "fs") await this.#serve(frame);
        else if (frame.header.t === "done") {
          const task = this.#sent[this.#framesAt];
          if (!task) continue;
          this.#framesAt++;
          task.done = frame;
          // The task's open files end with it; the next task's frames come after this one.
          this.#streams.drop();
          this.#settle();
        }
      }
    })();
    const output = (async () => {
      for await (const line of readLines(child.stderr)) {
        const task = this.#sent[this.#outputAt];
        if (line.endsWith(this.#nonce)) {
          const before = line.slice(0, -this.#nonce.length);
          if (before) task?.output(before);
          if (task) {
            this.#outputAt++;
            task.outputEnded = true;
            this.#settle();
          }
        } else if (task) task.output(line);
        else if (this.#early.length < 50) this.#early.push(line);
      }
    })();
    this.exited = child.status.then(async (status) => {
      this.alive = false;
      this.#group.release();
      await Promise.allSettled([frames, output]);
      this.#stopWatch();
      const sent = this.#sent;
      this.#sent = [];
      const running = sent.find((task) => !task.done);
      for (const task of sent) {
        // Its outcome came: its output is all there is.
        if (task.done) this.#finish(task);
        else if (task === running) {
          const memory = task.request.memory;
          this.#end(task, {
            ok: false,
            error: this.#outOfMemory
              ? `out of memory (limit ${memory})`
              : status.signal
              ? `the task's process was killed by ${status.signal}`
              : `the task ended its process with exit code ${status.code}`,
          });
        } else {
          this.#end(task, { ok: false, error: "the Python worker has exited", notRun: true });
        }
      }
      ready();
      return status;
    });
  }

  /** The worker's process id. */
  get pid(): number {
    return this.#group.child.pid;
  }

  /** Starts a worker and waits until Python has loaded it. */
  static async start(): Promise<PythonWorker> {
    const worker = new PythonWorker(await pythonWorkerScript());
    await worker.#ready;
    if (!worker.alive) {
      const said = worker.#early.length ? `: ${worker.#early.join(" / ")}` : "";
      throw new Error(`the Python worker ended before it was ready${said}`);
    }
    return worker;
  }

  async #serve(frame: Frame): Promise<void> {
    const fs = this.#sent[this.#framesAt]?.fs;
    const reply = fs
      ? await serveFs(fs, this.#streams, frame.header, frame.body)
      : { header: { ok: false, type: "RuntimeError", message: "no task is running" } };
    await this.#stdin.write(encodeFrame(reply.header, "body" in reply ? reply.body : undefined))
      .catch(() => {});
  }

  /** A task is over when its outcome came and its output ended (both, in either order). */
  #settle(): void {
    for (let task; (task = this.#sent[0]) && task.done && task.outputEnded;) {
      this.#sent.shift();
      this.#framesAt--;
      this.#outputAt--;
      if (this.#sent.length === 0) this.#stopWatch();
      this.#finish(task);
    }
  }

  /** Ends a task whose outcome came. */
  #finish(task: Sent): void {
    const header = task.done!.header as {
      ok: boolean;
      error?: string;
      oom?: boolean;
      unobserved?: string;
    };
    if (header.ok) {
      const jobs = task.request.kind === "dynamic"
        ? decoder.decode(task.done!.body) || "[]"
        : undefined;
      if (header.unobserved) task.recorder?.unobservable(header.unobserved);
      const observed = task.recorder?.observed();
      this.#end(task, { ok: true, jobs, ...(observed ? { observed } : {}) });
    } else if (header.oom && task.request.memory !== undefined) {
      this.#end(task, { ok: false, error: `out of memory (limit ${task.request.memory})` });
    } else this.#end(task, { ok: false, error: header.error ?? "failed" });
  }

  #end(task: Sent, outcome: PythonOutcome): void {
    if (task.file) Deno.remove(task.file).catch(() => {});
    task.finish(outcome);
  }

  #stopWatch(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  #store(dataDir: string): DataFs {
    let fs = this.#stores.get(dataDir);
    // The run's records are kt-deno's: a task reads them, changes none of them.
    const rules = { readOnly: [METADATA_ROOT] };
    if (!fs) this.#stores.set(dataDir, fs = new DataFs(openStorage(dataDir), rules));
    return fs;
  }

  /** Runs one task; `output` receives each line it prints. See {@linkcode runBatch}. */
  run(
    request: TaskRequest,
    found: FunctionModule,
    output: (line: string) => void,
  ): Promise<PythonOutcome> {
    return this.runBatch([{ request, found, output }])[0];
  }

  /**
   * Runs tasks one after the other, each in its own environment (see `py/kt_worker.py`),
   * sent in one frame; a promise of each one's outcome. When the worker ends, the task it
   * runs fails with how it ended, and the tasks after it come back `notRun`.
   *
   * With a `memory` (the first task's stands for the batch) the tasks are watched: when the
   * worker and what it started hold more resident memory than that (`memory_watch.ts`),
   * they are killed and the task fails with `out of memory (limit …)`.
   */
  runBatch(tasks: PythonTask[]): Promise<PythonOutcome>[] {
    if (!this.alive) {
      return tasks.map(() =>
        Promise.resolve({ ok: false, error: "the Python worker has exited", notRun: true })
      );
    }
    const sent = tasks.map(({ request, output }) => {
      const recorder = request.record ? new FsRecorder() : undefined;
      const store = this.#store(request.dataDir);
      const fs = recorder ? new DataFs(store.driver, store.rules, recorder) : store;
      let finish!: (outcome: PythonOutcome) => void;
      const outcome = new Promise<PythonOutcome>((resolve) => finish = resolve);
      const task: Sent = { request, output, fs, recorder, outputEnded: false, finish };
      return { task, outcome };
    });
    this.#sent.push(...sent.map((s) => s.task));
    const limit = memoryLimit(tasks[0].request.memory);
    if (!this.#unwatch && limit !== null) {
      this.#unwatch = memoryWatch.watch(this.pid, limit, () => this.#killForMemory());
    }
    const outcomes = sent.map((s) => s.outcome);
    // A batch goes down when the last one is done: until then the worker reads only the
    // answers to its file operations.
    this.#writing = this.#writing
      .then(() => this.#write(tasks, sent.map((s) => s.task)))
      .then(() => Promise.all(outcomes))
      .then(() => {});
    return outcomes;
  }

  /** Writes a batch frame: each task's header in the frame's, their args one after the other. */
  async #write(tasks: PythonTask[], sent: Sent[]): Promise<void> {
    // Ended meanwhile: its tasks have ended with it.
    if (!this.alive) return;
    try {
      await this.#writeFrame(tasks, sent);
    } catch (error) {
      // No args file (a full disk): the batch fails, the worker waits for another.
      this.#sent = this.#sent.filter((task) => !sent.includes(task));
      if (this.#sent.length === 0) this.#stopWatch();
      for (const task of sent) this.#end(task, { ok: false, error: (error as Error).message });
    }
  }

  async #writeFrame(tasks: PythonTask[], sent: Sent[]): Promise<void> {
    const headers = [];
    const bodies = [];
    for (const [i, { request, found }] of tasks.entries()) {
      const file = sent[i].file = await argsFile(request);
      const body = encoder.encode(argsJson(request).json);
      bodies.push(body);
      headers.push({
        id: ++this.#nextId,
        kind: request.kind,
        function: request.function,
        module: found.module,
        attr: found.name,
        functions_dir: request.functionsDir.startsWith("/")
          ? request.functionsDir
          : `${Deno.cwd()}/${request.functionsDir}`,
        env: taskEnv(request, file),
        size: body.length,
        ...(request.record ? { watch: true } : {}),
      });
    }
    const body = new Uint8Array(bodies.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const part of bodies) body.set(part, at), at += part.length;
    await this.#stdin.write(encodeFrame({ t: "batch", tasks: headers }, body)).catch(() => {});
  }

  /** The task holds more than its memory: it ends with its worker, as a pod's would. */
  #killForMemory(): void {
    if (!this.alive) return;
    this.#outOfMemory = true;
    killTree(this.#group.child.pid);
    this.#group.kill();
  }

  /** Kills the worker and the task it runs, with everything they started. */
  kill(): void {
    if (this.alive) this.#group.kill();
  }

  /** Ends the worker: closing its stdin lets it exit once its tasks are done. */
  async close(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.exited;
  }
}

/**
 * Starts a Python worker for `request`'s function. When it will not start, the error says
 * why plainly when Python is missing or too old ({@linkcode checkPython}), and is the
 * worker's own otherwise. The one place a Python worker is started: the local executor's
 * pool and a pod's task (`run_python_task.ts`) both come here.
 *
 * @example
 * ```ts ignore
 * const worker = await startPythonWorker(request);
 * const outcome = await worker.run(request, request.found!, (line) => console.log(line));
 * await worker.close();
 * ```
 */
export async function startPythonWorker(
  request: Partial<Pick<TaskRequest, "function" | "found">>,
): Promise<PythonWorker> {
  try {
    return await PythonWorker.start();
  } catch (error) {
    await checkPython(`function ${request.function} is Python (${request.found?.file})`);
    throw error;
  }
}
