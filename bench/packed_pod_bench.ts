/**
 * The cost of a task inside a packed pod against the local executor's, on this machine:
 * `kt-deno task` run as pod 0 of a job of N no-op tasks at `tasks_per_pod` N (one worker,
 * a local data dir laid out as the controller lays it out), against `kt-deno run` of the
 * same N tasks with `--concurrency 1`. Both are whole commands, start-up included; the
 * pod also writes each task's time file and its done record, which a local run does not.
 *
 *     deno run -A bench/packed_pod_bench.ts [--tasks 1000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { layOutTasks, type TaskDefinition } from "../src/records/task_files.ts";
import { VERSION } from "../src/version.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { tasks: { type: "string", default: "1000" } },
});
const TASKS = Number(values.tasks);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const FUNCTIONS = new URL("../tests/fixtures/kt_functions", import.meta.url).pathname;
const RUN = "ktpr0000bnch";

async function timed(args: string[], cwd: string, env: Record<string, string> = {}) {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    cwd,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  return (performance.now() - started) / 1000;
}

const dir = await Deno.makeTempDir({ prefix: "kt-bench-packed-" });
try {
  const definitions: TaskDefinition[] = Array.from(
    { length: TASKS },
    (_, i) => ({ kind: "static", function: "steps.noop", args: { i } }),
  );
  const files = layOutTasks(RUN, "wide", TASKS, () => definitions);
  for (const { path, text } of files.files) {
    await Deno.mkdir(`${dir}/pod/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/pod/${path}`, text);
  }
  const pod = await timed(["task"], dir, {
    KT_RUN_ID: RUN,
    KT_JOB_NAME: "wide",
    JOB_COMPLETION_INDEX: "0",
    DATA_DIR: `${dir}/pod`,
    KT_VERSION: VERSION,
    KT_TASKS_PER_CHUNK: String(files.perChunk),
    KT_FUNCTIONS_DIR: FUNCTIONS,
    KT_TASK_COUNT: String(TASKS),
    KT_TASKS_PER_POD: String(TASKS),
    KT_POD_WORKERS: "1",
  });
  const tasks = definitions.map(({ function: fn, args }) => ({ function: fn, args }));
  await Deno.writeTextFile(
    `${dir}/spec.json`,
    JSON.stringify({ name: "bench", jobs: [{ name: "wide", type: "static", tasks }] }),
  );
  const local = await timed(
    [
      "run",
      "spec.json",
      "--data-dir",
      `${dir}/local`,
      "--functions",
      FUNCTIONS,
      "--concurrency",
      "1",
    ],
    dir,
  );
  console.log(
    `${TASKS} no-op tasks, one at a time: packed pod ${pod.toFixed(2)} s (${
      (pod / TASKS * 1000).toFixed(2)
    } ms a task), local run ${local.toFixed(2)} s (${(local / TASKS * 1000).toFixed(2)} ms a task)`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
