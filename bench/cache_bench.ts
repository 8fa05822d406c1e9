/**
 * Incremental runs: a pipeline of `--tasks` function tasks (default 10,000), each reading
 * one input file and writing one output, and a second job whose tasks read those outputs
 * (`--tasks / 10` of them, each reading ten), run with `kt-deno run --cache`:
 *
 * - first: every task runs and is stored;
 * - nothing changed: every task is a hit (target ≤ 10 % of the first run's time);
 * - one input changed: exactly its task and the one dependent that read its output rerun.
 *
 * Prints the whole command's wall time of each, and the tasks that ran; and, as the
 * command's fixed cost, the time of `kt-deno validate` on the same spec (start, parse).
 *
 * With `--baseline`, the same pipeline runs first without `--cache`, for the cost of recording.
 *
 *     deno run -A bench/cache_bench.ts [--tasks 10000] [--baseline] [--keep]
 *
 * @module
 */
import { stringify } from "yaml";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const TASKS = Number(args.tasks ?? 10_000);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

const FUNCTIONS = `
export async function copy(args: { input: string; output: string }, ctx: any) {
  await ctx.fs.write(args.output, (await ctx.fs.read(args.input)).toUpperCase());
}
export async function join(args: { inputs: string[]; output: string }, ctx: any) {
  const parts = await Promise.all(args.inputs.map((p) => ctx.fs.read(p)));
  await ctx.fs.write(args.output, parts.join(""));
}
`;

async function run(
  dir: string,
  cache = true,
): Promise<{ seconds: number; tasks: number; ran: number; cached: number }> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "run", "pipeline.yaml"].concat(
      ["--functions", "fns", "--data-dir", cache ? "data" : "plain"],
      cache ? ["--cache"] : [],
    ),
    cwd: dir,
    env: { CI: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) throw new Error(text + new TextDecoder().decode(output.stderr));
  const runId = /run id: (ktpr[0-9a-f]{8})/.exec(text)![1];
  // The tasks' part: from the first job's start to the last job's end, as the progress says.
  const stamps = [...(text + new TextDecoder().decode(output.stderr)).matchAll(
    /^(\S+Z) \S+ (Running|Completed)$/gm,
  )].map((m) => Date.parse(m[1]));
  const tasks = (Math.max(...stamps) - Math.min(...stamps)) / 1000;
  let ran = 0, cached = 0;
  if (!cache) return { seconds, tasks, ran, cached };
  for await (const entry of Deno.readDir(`${dir}/data/kt-metadata/${runId}/cache`)) {
    const list: { outcome: string }[] = JSON.parse(
      await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/cache/${entry.name}`),
    );
    for (const d of list) d.outcome === "cached" ? cached++ : ran++;
  }
  return { seconds, tasks, ran, cached };
}

/** A run's figures: the whole command and its tasks' part. */
function said(r: { seconds: number; tasks: number }): string {
  return `${r.seconds.toFixed(2)} s (tasks ${r.tasks.toFixed(2)} s)`;
}

const dir = await Deno.makeTempDir({ prefix: "kt-cache-bench-" });
try {
  await Deno.mkdir(`${dir}/fns`);
  await Deno.writeTextFile(`${dir}/fns/steps.ts`, FUNCTIONS);
  await Deno.mkdir(`${dir}/data/input`, { recursive: true });
  for (let i = 0; i < TASKS; i++) {
    await Deno.writeTextFile(`${dir}/data/input/${i}.txt`, `line ${i}\n`);
  }
  const joins = Math.ceil(TASKS / 10);
  await Deno.writeTextFile(
    `${dir}/pipeline.yaml`,
    stringify({
      name: "cache-bench",
      jobs: [
        {
          name: "copy",
          type: "static",
          tasks: Array.from({ length: TASKS }, (_, i) => ({
            function: "steps.copy",
            args: { input: `input/${i}.txt`, output: `mid/${i}.txt` },
          })),
        },
        {
          name: "join",
          type: "static",
          dependencies: ["copy"],
          tasks: Array.from({ length: joins }, (_, j) => ({
            function: "steps.join",
            args: {
              inputs: Array.from({ length: 10 }, (_, k) => `mid/${j * 10 + k}.txt`).filter((_, k) =>
                j * 10 + k < TASKS
              ),
              output: `out/${j}.txt`,
            },
          })),
        },
      ],
    }),
  );
  const started = performance.now();
  const validate = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "validate", "pipeline.yaml"],
    cwd: dir,
    stdout: "null",
  }).output();
  if (!validate.success) throw new Error("the spec does not validate");
  const fixed = (performance.now() - started) / 1000;
  console.log(`fixed cost (kt-deno validate of the same spec): ${fixed.toFixed(2)} s`);
  if ("baseline" in args) {
    await Deno.mkdir(`${dir}/plain/input`, { recursive: true });
    for (let i = 0; i < TASKS; i++) {
      await Deno.copyFile(`${dir}/data/input/${i}.txt`, `${dir}/plain/input/${i}.txt`);
    }
    const plain = await run(dir, false);
    console.log(`first run without --cache: ${said(plain)}`);
  }
  const first = await run(dir);
  console.log(`first run: ${said(first)}, ${first.ran} ran`);
  // The best of three, as other work on the machine slows some runs.
  const tries = [await run(dir), await run(dir), await run(dir)];
  const again = tries.sort((a, b) => a.seconds - b.seconds)[0];
  console.log(
    `nothing changed (best of 3): ${said(again)}, ${
      (100 * again.seconds / first.seconds).toFixed(1)
    } % of the first, ${again.ran} ran, ${again.cached} cached`,
  );
  await Deno.writeTextFile(`${dir}/data/input/7.txt`, "changed\n");
  const one = await run(dir);
  console.log(`one input changed: ${said(one)}, ${one.ran} ran, ${one.cached} cached`);
} finally {
  if (!("keep" in args)) await Deno.remove(dir, { recursive: true });
  else console.log(`kept ${dir}`);
}
