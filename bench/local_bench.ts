/**
 * Local benchmark: each case is one `kt-deno run` as a user would type it.
 *
 * - fan-out: one static job of 100,000 no-op tasks: tasks per second, peak RSS;
 * - chain: 500 single-task jobs in a chain: overhead per dependency edge;
 * - dynamic: a dynamic job that returns 10,000 single-task jobs, end to end;
 * - long-line: a command that prints 100 MB in one line (no newline), then one more line:
 *   end to end, and what its log kept (the line's first and last 32 KiB with a note between
 *   them, and the line after it).
 *
 * Prints the wall time of the whole command, the run's own time (first job submitted to
 * last job finished), the peak memory of the whole run (the launcher and its worker
 * processes together, found through /proc/PID/task/TID/children: the sum of their RSS,
 * read every 20 ms from /proc/PID/statm, which counts the pages of the deno binary they
 * share once per process, and the sum of their PSS, read every 200 ms from smaps_rollup,
 * which shares those pages out; a worker being started, which shares the launcher's
 * memory until it runs its own program, is not counted twice; reading smaps_rollup every
 * 20 ms, and all of /proc to find the processes, made the dynamic case 0.2 s slower), and the writes of the
 * state document (counted by `bench/count_writes.ts`, preloaded into the command).
 *
 *     deno run -A bench/local_bench.ts [--tasks 100000] [--chain 500] [--dynamic 10000] [--line-mb 100] [--only fan-out,chain,dynamic,long-line]
 *
 * @module
 */
import type { StateDocument } from "../src/engine/state.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const TASKS = Number(args.tasks ?? 100_000);
const CHAIN = Number(args.chain ?? 500);
const DYNAMIC = Number(args.dynamic ?? 10_000);
const LINE_MB = Number(args["line-mb"] ?? 100);
const ONLY = new Set((args.only ?? "fan-out,chain,dynamic,long-line").split(","));
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const PRELOAD = new URL("./count_writes.ts", import.meta.url).pathname;
const FUNCTIONS = new URL("../tests/fixtures/kt_functions", import.meta.url).pathname;

/** The processes below `pid`: the children of each of its threads, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
      if (text) out.push(...text.split(" ").map(Number));
    }
  } catch { /* exited */ }
  return out;
}

function cmdline(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return "";
  }
}

/** A process and all its descendants (a child still being started, not yet its own program, left out). */
function treeOf(root: number): number[] {
  const pids: number[] = [];
  for (const queue: [number, string][] = [[root, ""]]; queue.length;) {
    const [pid, parentCmdline] = queue.pop()!;
    const own = cmdline(pid);
    // A child being started shares its parent's memory until it runs its own program
    // (posix_spawn); its cmdline is still the parent's. Its pages are the parent's.
    if (own === parentCmdline) continue;
    pids.push(pid);
    for (const child of childrenOf(pid)) queue.push([child, own]);
  }
  return pids;
}

const PAGE = 4096;

/** The resident memory of processes, in bytes, from their counters (/proc/PID/statm: cheap). */
function rssOf(pids: number[]): number {
  let rss = 0;
  for (const pid of pids) {
    try {
      rss += Number(Deno.readTextFileSync(`/proc/${pid}/statm`).split(" ")[1]) * PAGE;
    } catch { /* exited */ }
  }
  return rss;
}

/**
 * The proportional set size of processes, in bytes (/proc/PID/smaps_rollup, which walks each
 * process's page tables under its memory-map lock: it holds the process up while it reads,
 * so it is read less often than the RSS).
 */
function pssOf(pids: number[]): number {
  let pss = 0;
  for (const pid of pids) {
    try {
      const rollup = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch { /* exited */ }
  }
  return pss;
}

/** Reads the PSS at every this many samples of the RSS. */
const PSS_EVERY = 10;

interface Measure {
  wall: number;
  pipelineSeconds: number;
  peakMiB: number;
  peakPssMiB: number;
  jobs: number;
  writes: number;
  bytes: number;
  /** What `inspect` found in the run's data dir. */
  found?: string;
}

async function run(
  name: string,
  spec: unknown,
  inspect?: (data: string, runId: string) => Promise<string>,
): Promise<Measure> {
  const dir = await Deno.makeTempDir({ prefix: "kt-bench-" });
  await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(spec));
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      CONFIG,
      "--preload",
      PRELOAD,
      MAIN,
      "run",
      `${dir}/spec.json`,
      "--data-dir",
      `${dir}/data`,
      "--functions",
      FUNCTIONS,
    ],
    env: { KT_BENCH_WRITES: `${dir}/writes.json` },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let peak = 0, peakPss = 0, samples = 0;
  const sampler = setInterval(() => {
    const pids = treeOf(child.pid);
    peak = Math.max(peak, rssOf(pids));
    if (samples++ % PSS_EVERY === 0) peakPss = Math.max(peakPss, pssOf(pids));
  }, 20);
  const output = await child.output();
  clearInterval(sampler);
  const wall = (performance.now() - started) / 1000;
  const runId = /run id: (\S+)/.exec(new TextDecoder().decode(output.stdout))![1];
  const state: StateDocument = JSON.parse(
    await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
  );
  const { writes, bytes } = JSON.parse(await Deno.readTextFile(`${dir}/writes.json`));
  const found = await inspect?.(`${dir}/data`, runId);
  await Deno.remove(dir, { recursive: true });
  if (state.status !== "Completed") throw new Error(`${name}: run ${state.status}`);
  const jobs = Object.values(state.jobs);
  let first = Infinity, last = -Infinity;
  for (const job of jobs) {
    first = Math.min(first, Date.parse(job.submitted_at!));
    last = Math.max(last, Date.parse(job.finished_at!));
  }
  return {
    wall,
    pipelineSeconds: (last - first) / 1000,
    peakMiB: peak / 2 ** 20,
    peakPssMiB: peakPss / 2 ** 20,
    jobs: jobs.length,
    writes,
    bytes,
    found,
  };
}

function common(m: Measure): string {
  return `whole command ${m.wall.toFixed(2)} s, peak RSS ${m.peakMiB.toFixed(0)} MiB (PSS ${
    m.peakPssMiB.toFixed(0)
  } MiB), state ${(m.bytes / 2 ** 20).toFixed(2)} MiB in ${m.writes} writes`;
}

console.log(`machine: ${navigator.hardwareConcurrency} cores, deno ${Deno.version.deno}`);
if (ONLY.has("fan-out")) {
  const fan = await run("fan-out", {
    name: "bench-fan-out",
    jobs: [{
      name: "fan",
      type: "static",
      tasks: Array.from({ length: TASKS }, () => ({ function: "steps.noop" })),
    }],
  });
  console.log(
    `fan-out: ${TASKS} no-op tasks in ${fan.pipelineSeconds.toFixed(2)} s = ${
      (TASKS / fan.pipelineSeconds).toFixed(0)
    } tasks/s (${common(fan)})`,
  );
}
if (ONLY.has("chain")) {
  const chain = await run("chain", {
    name: "bench-chain",
    jobs: Array.from({ length: CHAIN }, (_, i) => ({
      name: `step-${i}`,
      type: "static",
      dependencies: i ? [`step-${i - 1}`] : [],
      tasks: [{ function: "steps.noop" }],
    })),
  });
  console.log(
    `chain: ${CHAIN} jobs in ${chain.pipelineSeconds.toFixed(2)} s = ${
      (chain.pipelineSeconds * 1000 / CHAIN).toFixed(2)
    } ms per edge, task included (${common(chain)})`,
  );
}
if (ONLY.has("dynamic")) {
  const dynamic = await run("dynamic", {
    name: "bench-dynamic",
    jobs: [{ name: "plan", type: "dynamic", function: "steps.fanOut", args: { count: DYNAMIC } }],
  });
  console.log(
    `dynamic: a dynamic job returning ${DYNAMIC} single-task jobs, ${dynamic.jobs} jobs, end to end ${
      dynamic.wall.toFixed(2)
    } s (run ${dynamic.pipelineSeconds.toFixed(2)} s; ${common(dynamic)})`,
  );
}
if (ONLY.has("long-line")) {
  const bytes = LINE_MB * 1_000_000;
  const long = await run("long-line", {
    name: "bench-long-line",
    jobs: [{
      name: "print",
      type: "static",
      tasks: [{
        command: [
          "sh",
          "-c",
          `printf START; head -c ${bytes} /dev/zero | tr '\\0' x; printf END; echo; echo end`,
        ],
      }],
    }],
  }, async (data, runId) => {
    const log = await Deno.readTextFile(`${data}/kt-metadata/${runId}/logs/print/0.log`);
    const [line, end] = log.split("\n");
    const note = /^STARTx+( \[kt-deno: line cut at \d+ bytes: \d+ bytes not kept here\] )x+END$/
      .exec(line);
    if (!note || end !== "end") throw new Error("long-line: the log lost the line's start or end");
    const kept = line.length - note[1].length;
    return `its log keeps ${kept} bytes of the line (its start and its end, a note between) and the next line (${log.length} bytes in all)`;
  });
  console.log(
    `long-line: ${LINE_MB} MB of output in one line, end to end ${
      long.wall.toFixed(2)
    } s; ${long.found} (${common(long)})`,
  );
}
