/**
 * One long-lived Python worker process (`py/kt_worker.py`) and the pipes to it: task
 * requests and file-operation answers go down its stdin, file operations and outcomes come
 * up its stdout, and the task's own output (stdout and stderr of the task's code) comes up
 * its stderr, ended after each task by a line holding the worker's nonce.
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
 * with `request.record`, what it did through `fsutil` and `kt_deno`.
 */
export type PythonOutcome =
  | { ok: true; jobs?: string; observed?: Observed }
  | { ok: false; error: string };

interface Current {
  request: TaskRequest;
  output: (line: string) => void;
  fs: DataFs;
  recorder?: FsRecorder;
  done?: Frame;
  outputEnded: boolean;
  finish: (outcome: PythonOutcome) => void;
  unwatch: () => void;
}

const decoder = new TextDecoder();

/**
 * A Python worker: runs one task at a time, as many tasks as it is given.
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
  #current?: Current;
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
        else if (frame.header.t === "done" && this.#current) {
          this.#current.done = frame;
          this.#settle();
        }
      }
    })();
    const output = (async () => {
      for await (const line of readLines(child.stderr)) {
        const current = this.#current;
        if (line.endsWith(this.#nonce)) {
          const before = line.slice(0, -this.#nonce.length);
          if (before) current?.output(before);
          if (current) {
            current.outputEnded = true;
            this.#settle();
          }
        } else if (current) current.output(line);
        else if (this.#early.length < 50) this.#early.push(line);
      }
    })();
    this.exited = child.status.then(async (status) => {
      this.alive = false;
      this.#group.release();
      await Promise.allSettled([frames, output]);
      const memory = this.#current?.request.memory;
      this.#current?.unwatch();
      this.#current?.finish({
        ok: false,
        error: this.#outOfMemory
          ? `out of memory (limit ${memory})`
          : status.signal
          ? `the task's process was killed by ${status.signal}`
          : `the task ended its process with exit code ${status.code}`,
      });
      this.#current = undefined;
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
    const fs = this.#current?.fs;
    const reply = fs
      ? await serveFs(fs, this.#streams, frame.header, frame.body)
      : { header: { ok: false, type: "RuntimeError", message: "no task is running" } };
    await this.#stdin.write(encodeFrame(reply.header, "body" in reply ? reply.body : undefined))
      .catch(() => {});
  }

  /** A task is over when its outcome came and its output ended (both, in either order). */
  #settle(): void {
    const current = this.#current;
    if (!current?.done || !current.outputEnded) return;
    this.#current = undefined;
    current.unwatch();
    this.#streams.drop();
    const header = current.done.header as {
      ok: boolean;
      error?: string;
      oom?: boolean;
      unobserved?: string;
    };
    if (header.ok) {
      const jobs = current.request.kind === "dynamic"
        ? decoder.decode(current.done.body) || "[]"
        : undefined;
      if (header.unobserved) current.recorder?.unobservable(header.unobserved);
      const observed = current.recorder?.observed();
      current.finish({ ok: true, jobs, ...(observed ? { observed } : {}) });
    } else if (header.oom && current.request.memory !== undefined) {
      current.finish({ ok: false, error: `out of memory (limit ${current.request.memory})` });
    } else current.finish({ ok: false, error: header.error ?? "failed" });
  }

  #store(dataDir: string): DataFs {
    let fs = this.#stores.get(dataDir);
    // The run's records are kt-deno's: a task reads them, changes none of them.
    const rules = { readOnly: [METADATA_ROOT] };
    if (!fs) this.#stores.set(dataDir, fs = new DataFs(openStorage(dataDir), rules));
    return fs;
  }

  /**
   * Runs one task; `output` receives each line it prints. With `request.memory` the task
   * is watched: when the worker and what it started hold more resident memory than that
   * (`memory_watch.ts`), they are killed and the task fails with `out of memory (limit …)`.
   */
  async run(
    request: TaskRequest,
    found: FunctionModule,
    output: (line: string) => void,
  ): Promise<PythonOutcome> {
    if (!this.alive) return { ok: false, error: "the Python worker has exited" };
    const file = await argsFile(request);
    try {
      const recorder = request.record ? new FsRecorder() : undefined;
      const store = this.#store(request.dataDir);
      const limit = memoryLimit(request.memory);
      const unwatch = limit === null
        ? () => {}
        : memoryWatch.watch(this.#group.child.pid, limit, () => this.#killForMemory());
      const outcome = new Promise<PythonOutcome>((finish) => {
        this.#current = {
          request,
          output,
          fs: recorder ? new DataFs(store.driver, store.rules, recorder) : store,
          recorder,
          outputEnded: false,
          finish,
          unwatch,
        };
      });
      const header = {
        t: "task",
        id: ++this.#nextId,
        kind: request.kind,
        function: request.function,
        module: found.module,
        attr: found.name,
        functions_dir: request.functionsDir.startsWith("/")
          ? request.functionsDir
          : `${Deno.cwd()}/${request.functionsDir}`,
        env: taskEnv(request, file),
        ...(request.record ? { watch: true } : {}),
      };
      const body = new TextEncoder().encode(argsJson(request).json);
      this.#stdin.write(encodeFrame(header, body)).catch(() => {});
      return await outcome;
    } finally {
      if (file) await Deno.remove(file).catch(() => {});
    }
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

  /** Ends the worker: closing its stdin lets it exit once its task is done. */
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
export async function startPythonWorker(request: TaskRequest): Promise<PythonWorker> {
  try {
    return await PythonWorker.start();
  } catch (error) {
    await checkPython(`function ${request.function} is Python (${request.found?.file})`);
    throw error;
  }
}
