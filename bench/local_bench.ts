/**
 * Local executor benchmark: 10,000 no-op tasks in one static job, and a chain of 500
 * single-task jobs, each run by `kt-deno run` as a user would. Prints tasks per second,
 * scheduling overhead per dependency edge, and the peak RSS of the whole run (the
 * launcher and its worker processes together, sampled from /proc every 20 ms).
 *
 *     deno run -A bench/local_bench.ts [--tasks 10000] [--chain 500]
 *
 * @module
 */
import type { StateDocument } from "../src/engine/state.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const TASKS = Number(args.tasks ?? 10_000);
const CHAIN = Number(args.chain ?? 500);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const FUNCTIONS = new URL("../tests/fixtures/kt_functions", import.meta.url).pathname;

function rssOfTree(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...children.get(ppid) ?? [], Number(entry.name)]);
    } catch { /* exited */ }
  }
  let total = 0;
  for (const queue = [root]; queue.length;) {
    const pid = queue.pop()!;
    try {
      const kb = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
      total += Number(kb ?? 0) * 1024;
    } catch { /* exited */ }
    queue.push(...children.get(pid) ?? []);
  }
  return total;
}

async function run(name: string, spec: unknown) {
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
      MAIN,
      "run",
      `${dir}/spec.json`,
      "--data-dir",
      `${dir}/data`,
      "--functions",
      FUNCTIONS,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let peak = 0;
  const sampler = setInterval(() => peak = Math.max(peak, rssOfTree(child.pid)), 20);
  const output = await child.output();
  clearInterval(sampler);
  const wall = (performance.now() - started) / 1000;
  const runId = /run id: (\S+)/.exec(new TextDecoder().decode(output.stdout))![1];
  const state: StateDocument = JSON.parse(
    await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
  );
  await Deno.remove(dir, { recursive: true });
  if (state.status !== "Completed") throw new Error(`${name}: run ${state.status}`);
  const jobs = Object.values(state.jobs);
  const first = Math.min(...jobs.map((j) => Date.parse(j.submitted_at!)));
  const last = Math.max(...jobs.map((j) => Date.parse(j.finished_at!)));
  return { wall, pipelineSeconds: (last - first) / 1000, peakMiB: peak / 2 ** 20 };
}

const fan = await run("fan-out", {
  name: "bench-fan-out",
  jobs: [{
    name: "fan",
    type: "static",
    tasks: Array.from({ length: TASKS }, () => ({ function: "steps.noop" })),
  }],
});
const chain = await run("chain", {
  name: "bench-chain",
  jobs: Array.from({ length: CHAIN }, (_, i) => ({
    name: `step-${i}`,
    type: "static",
    dependencies: i ? [`step-${i - 1}`] : [],
    tasks: [{ function: "steps.noop" }],
  })),
});

const cores = navigator.hardwareConcurrency;
console.log(`machine: ${cores} cores, deno ${Deno.version.deno}`);
console.log(
  `fan-out: ${TASKS} no-op tasks in ${fan.pipelineSeconds.toFixed(2)} s = ${
    (TASKS / fan.pipelineSeconds).toFixed(0)
  } tasks/s (whole command ${fan.wall.toFixed(2)} s), peak RSS ${fan.peakMiB.toFixed(0)} MiB`,
);
console.log(
  `chain: ${CHAIN} jobs in ${chain.pipelineSeconds.toFixed(2)} s = ${
    (chain.pipelineSeconds * 1000 / CHAIN).toFixed(2)
  } ms per edge, task included (whole command ${chain.wall.toFixed(2)} s), peak RSS ${
    chain.peakMiB.toFixed(0)
  } MiB`,
);
