/**
 * Python task benchmark, each a `kt-deno run` as a user would type it:
 *
 * - a static job of 1,000 no-op Python tasks (`steps.noop` of tests/fixtures/py_functions);
 * - a static job of 1,000 pandas tasks (`frames.small_frame`: a DataFrame of 200 rows made,
 *   grouped and written as parquet through `fs.open`), with pandas and pyarrow from the
 *   tests' shared virtualenv (tests/pandas_venv.ts, made on first use).
 *
 * For each it prints the tasks per second of the run itself (first job submitted to last
 * job finished), the wall time of the whole command (Deno's and Python's start-up
 * included), and the memory of the Python workers: their peak RSS (`VmHWM` of
 * /proc/PID/status, read every 50 ms for each Python worker below kt-deno). With
 * `--processes` the no-op tasks are instead command tasks `python3 -c pass`: a Python
 * process per task, the way to compare; `--only noop|pandas` runs one of the two.
 *
 *     deno run -A bench/python_bench.ts [--tasks 1000] [--concurrency N] [--processes]
 *                                       [--only noop|pandas]
 *
 * @module
 */
import type { StateDocument } from "../src/engine/state.ts";
import { pandasPython } from "../tests/pandas_venv.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const TASKS = Number(args.tasks ?? 1_000);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const FUNCTIONS = new URL("../tests/fixtures/py_functions", import.meta.url).pathname;
const MIB = 1024 * 1024;

function isWorker(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("kt_worker.py");
  } catch {
    return false;
  }
}

/** Peak RSS (bytes) of each Python worker below `root`, sampled until stopped. */
function watchWorkers(root: number): { stop: () => number[] } {
  const peaks = new Map<number, number>();
  const sample = () => {
    const parents = new Map<number, number>();
    const names = new Map<number, string>();
    for (const entry of Deno.readDirSync("/proc")) {
      const pid = Number(entry.name);
      if (!Number.isInteger(pid)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        const close = stat.lastIndexOf(")");
        names.set(pid, stat.slice(stat.indexOf("(") + 1, close));
        parents.set(pid, Number(stat.slice(close + 2).split(" ")[1]));
      } catch {
        // gone meanwhile
      }
    }
    for (const [pid, name] of names) {
      if (!name.startsWith("python") || !isWorker(pid)) continue;
      let up = parents.get(pid);
      while (up !== undefined && up > 1 && up !== root) up = parents.get(up);
      if (up !== root) continue;
      try {
        const status = Deno.readTextFileSync(`/proc/${pid}/status`);
        const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peaks.set(pid, Math.max(peaks.get(pid) ?? 0, kib * 1024));
      } catch {
        // gone meanwhile
      }
    }
  };
  const timer = setInterval(sample, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return [...peaks.values()];
    },
  };
}

interface Measured {
  seconds: number;
  wall: number;
  peaks: number[];
}

async function benchRun(
  dir: string,
  name: string,
  tasks: unknown[],
  env: Record<string, string> = {},
): Promise<Measured> {
  await Deno.writeTextFile(
    `${dir}/${name}.json`,
    JSON.stringify({ name: `python-bench-${name}`, jobs: [{ name, type: "static", tasks }] }),
  );
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      CONFIG,
      MAIN,
      "run",
      `${dir}/${name}.json`,
      "--data-dir",
      `${dir}/${name}-data`,
      "--functions",
      FUNCTIONS,
      ...(args.concurrency ? ["--concurrency", args.concurrency] : []),
    ],
    env,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const workers = watchWorkers(child.pid);
  const output = await child.output();
  const peaks = workers.stop();
  const wall = (performance.now() - started) / 1000;
  const runId = /run id: (\S+)/.exec(new TextDecoder().decode(output.stdout))![1];
  const state: StateDocument = JSON.parse(
    await Deno.readTextFile(`${dir}/${name}-data/kt-metadata/${runId}/pipeline_run_state.json`),
  );
  if (state.status !== "Completed") throw new Error(`run ${state.status}`);
  const job = state.jobs[name];
  const seconds = (Date.parse(job.finished_at!) - Date.parse(job.submitted_at!)) / 1000;
  return { seconds, wall, peaks };
}

function memory(peaks: number[]): string {
  if (peaks.length === 0) return "no Python worker seen";
  const most = Math.max(...peaks) / MIB;
  const sum = peaks.reduce((a, b) => a + b, 0) / MIB;
  return `${peaks.length} Python worker${peaks.length === 1 ? "" : "s"}, peak RSS ${
    most.toFixed(1)
  } MiB at most, ${sum.toFixed(1)} MiB together`;
}

function line(what: string, m: Measured): string {
  return `${what}: ${TASKS} tasks in ${m.seconds.toFixed(2)} s = ${
    (TASKS / m.seconds).toFixed(0)
  } tasks/s (concurrency ${args.concurrency ?? navigator.hardwareConcurrency}; whole command ${
    m.wall.toFixed(2)
  } s; ${memory(m.peaks)})`;
}

const dir = await Deno.makeTempDir({ prefix: "kt-python-bench-" });
try {
  if (args.only !== "pandas") {
    const processes = "processes" in args;
    const tasks = Array.from(
      { length: TASKS },
      () => processes ? { command: ["python3", "-c", "pass"] } : { function: "steps.noop" },
    );
    const m = await benchRun(dir, "noop", tasks);
    console.log(line(`python no-op${processes ? " (a process per task)" : ""}`, m));
  }
  if (args.only !== "noop" && !("processes" in args)) {
    const tasks = Array.from(
      { length: TASKS },
      (_, i) => ({ function: "frames.small_frame", args: { seed: i, output: `out/${i}.parquet` } }),
    );
    const m = await benchRun(dir, "pandas", tasks, { KT_PYTHON: await pandasPython() });
    console.log(line("python pandas (200-row DataFrame to parquet)", m));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
