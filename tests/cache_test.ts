/**
 * Incremental runs through the CLI: `kt-deno run --cache` skips the function tasks whose
 * code, args and recorded inputs are unchanged, and `why`, `lineage`, `status` and
 * `prune --cache` say what it did.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { copy } from "./copy.ts";
import { ktDeno, runIdOf } from "./cli_helpers.ts";
import type { CacheDecision } from "../src/records/cache.ts";
import { pandasPython } from "./pandas_venv.ts";

const STEPS = `
import { shout } from "./helper.ts";
export async function upper(args: { input: string; output: string }, ctx: any) {
  await ctx.fs.write(args.output, shout(await ctx.fs.read(args.input)));
}
export async function spawns(args: { output: string }, ctx: any) {
  await new Deno.Command("true").output();
  await ctx.fs.write(args.output, "spawned");
}
export async function fails(args: { input: string }, ctx: any) {
  if ((await ctx.fs.read(args.input)).includes("fail")) throw new Error("asked to fail");
}
`;
const HELPER = `export function shout(text: string): string {
  return text.toUpperCase();
}
`;
const SUMMARY = `
export async function count(args: { input: string; output: string }, ctx: any) {
  const text = await ctx.fs.read(args.input);
  await ctx.fs.write(args.output, \`\${text.length} characters\\n\`);
}
export async function listing(args: { dir: string; output: string }, ctx: any) {
  await ctx.fs.write(args.output, (await ctx.fs.listdir(args.dir)).join(","));
}
`;

/** A pipeline: upper(input/x) -> mid/x, count(mid/x) -> out/x, and a command task. */
function pipeline(extra: { upperArgs?: Record<string, unknown>; jobs?: unknown[] } = {}) {
  const files = ["a.txt", "b.txt"];
  return {
    name: "cached",
    jobs: [
      {
        name: "upper",
        type: "static",
        tasks: files.map((f, i) => ({
          function: "steps.upper",
          args: { input: `input/${f}`, output: `mid/${f}`, ...(i === 0 ? extra.upperArgs : {}) },
        })),
      },
      {
        name: "count",
        type: "static",
        dependencies: ["upper"],
        tasks: files.map((f) => ({
          function: "summary.count",
          args: { input: `mid/${f}`, output: `out/${f}` },
        })),
      },
      { name: "cmd", type: "static", tasks: [{ command: ["true"] }] },
      ...(extra.jobs ?? []),
    ],
  };
}

interface Project {
  dir: string;
  run(spec?: unknown, flags?: string[]): Promise<{ runId: string; stdout: string }>;
  decisions(runId: string): Promise<Record<string, CacheDecision[]>>;
  outcomes(runId: string): Promise<Record<string, string>>;
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

async function project(): Promise<Project> {
  const dir = await Deno.makeTempDir({ prefix: "kt-cache-" });
  await Deno.mkdir(`${dir}/fns`);
  await Deno.writeTextFile(`${dir}/fns/steps.ts`, STEPS);
  await Deno.writeTextFile(`${dir}/fns/helper.ts`, HELPER);
  await Deno.writeTextFile(`${dir}/fns/summary.ts`, SUMMARY);
  await Deno.mkdir(`${dir}/data/input`, { recursive: true });
  await Deno.writeTextFile(`${dir}/data/input/a.txt`, "hello\n");
  await Deno.writeTextFile(`${dir}/data/input/b.txt`, "world\n");
  const cli = (args: string[]) => ktDeno(args, dir);
  const decisions = async (runId: string) => {
    const out: Record<string, CacheDecision[]> = {};
    for await (const entry of Deno.readDir(`${dir}/data/kt-metadata/${runId}/cache`)) {
      out[entry.name.replace(/\.json$/, "")] = JSON.parse(
        await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/cache/${entry.name}`),
      );
    }
    return out;
  };
  return {
    dir,
    cli,
    decisions,
    async run(spec = pipeline(), flags = ["--cache"]) {
      await Deno.writeTextFile(`${dir}/pipeline.yaml`, stringify(spec));
      const result = await cli([
        "run",
        "pipeline.yaml",
        "--functions",
        "fns",
        "--data-dir",
        "data",
        ...flags,
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      return { runId: runIdOf(result.stdout), stdout: result.stdout };
    },
    /** `job/index` -> `cached` or `ran`. */
    async outcomes(runId: string) {
      const out: Record<string, string> = {};
      for (const [job, list] of Object.entries(await decisions(runId))) {
        for (const d of list) out[`${job}/${d.index}`] = d.outcome;
      }
      return out;
    },
  };
}

const ALL_RAN = {
  "upper/0": "ran",
  "upper/1": "ran",
  "count/0": "ran",
  "count/1": "ran",
  "cmd/0": "ran",
};
const ALL_CACHED = { ...ALL_RAN, "upper/0": "cached", "upper/1": "cached" } as Record<
  string,
  string
>;
ALL_CACHED["count/0"] = "cached";
ALL_CACHED["count/1"] = "cached";

Deno.test("run --cache: unchanged tasks are skipped, each change reruns exactly what depends on it", async (t) => {
  const p = await project();
  const data = `${p.dir}/data`;
  try {
    await t.step(
      "the first run runs every task; the second runs none but the command",
      async () => {
        const first = await p.run();
        assert.deepEqual(await p.outcomes(first.runId), ALL_RAN);
        const firstWhy = await p.decisions(first.runId);
        assert.equal(firstWhy.upper[0].why, "no entry (first run with the cache)");
        assert.equal(await Deno.readTextFile(`${data}/out/a.txt`), "6 characters\n");
        // An output written again with the same bytes (a new inode) still holds.
        await Deno.remove(`${data}/mid/a.txt`);
        await Deno.writeTextFile(`${data}/mid/a.txt`, "HELLO\n");
        const second = await p.run();
        assert.deepEqual(await p.outcomes(second.runId), ALL_CACHED);
        const why = await p.decisions(second.runId);
        assert.equal(why.cmd[0].why, "a command task is never cached");
        const status = await p.cli(["status", second.runId, "--data-dir", "data"]);
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /cache: .*upper: 2 cached, 0 ran/);
        assert.match(status.stdout, /cmd: 0 cached, 1 ran/);
        const report = await Deno.readTextFile(
          `${data}/kt-metadata/${second.runId}/report.html`,
        );
        assert.match(report, /"cache":\{"cached":2,"ran":0\}/);
      },
    );

    await t.step("a touched input with the same bytes is still a hit", async () => {
      const later = new Date(Date.now() + 60_000);
      await Deno.utime(`${data}/input/a.txt`, later, later);
      const run = await p.run();
      assert.deepEqual(await p.outcomes(run.runId), ALL_CACHED);
    });

    await t.step(
      "a changed input reruns its task and the dependent whose input changed",
      async () => {
        await Deno.writeTextFile(`${data}/input/b.txt`, "world, again\n");
        const run = await p.run();
        assert.deepEqual(await p.outcomes(run.runId), {
          ...ALL_CACHED,
          "upper/1": "ran",
          "count/1": "ran",
        });
        assert.equal(await Deno.readTextFile(`${data}/out/b.txt`), "13 characters\n");
        const why = await p.cli(["why", run.runId, "upper/1", "--data-dir", "data"]);
        assert.equal(why.code, 0, why.stderr);
        assert.match(why.stdout, /^upper\/1: ran: input input\/b\.txt changed \(sha256:/);
        const count = await p.cli(["why", run.runId, "count", "--data-dir", "data"]);
        assert.match(count.stdout, /count\/0: cached: its entry holds/);
        assert.match(count.stdout, /count\/1: ran: input mid\/b\.txt changed/);
      },
    );

    await t.step(
      "early cutoff: a rerun that writes the same bytes leaves its dependents cached",
      async () => {
        await Deno.writeTextFile(`${data}/input/a.txt`, "HELLO\n");
        const run = await p.run();
        assert.deepEqual(await p.outcomes(run.runId), { ...ALL_CACHED, "upper/0": "ran" });
      },
    );

    await t.step("a deleted output reruns the task that wrote it", async () => {
      await Deno.remove(`${data}/out/a.txt`);
      const run = await p.run();
      assert.deepEqual(await p.outcomes(run.runId), { ...ALL_CACHED, "count/0": "ran" });
      assert.equal(await Deno.readTextFile(`${data}/out/a.txt`), "6 characters\n");
      const why = await p.decisions(run.runId);
      assert.equal(why.count[0].why, "output out/a.txt is missing");
    });

    await t.step(
      "a changed helper module reruns the tasks of the function importing it",
      async () => {
        await Deno.writeTextFile(`${p.dir}/fns/helper.ts`, `// same result\n${HELPER}`);
        const run = await p.run();
        // upper's outputs keep their bytes, so count stays cached (early cutoff again).
        assert.deepEqual(await p.outcomes(run.runId), {
          ...ALL_CACHED,
          "upper/0": "ran",
          "upper/1": "ran",
        });
        assert.equal((await p.decisions(run.runId)).upper[0].why, "code changed: helper.ts");
      },
    );

    await t.step("a changed function file reruns that function's tasks only", async () => {
      await Deno.writeTextFile(`${p.dir}/fns/summary.ts`, SUMMARY.replace("characters", "chars"));
      const run = await p.run();
      assert.deepEqual(await p.outcomes(run.runId), {
        ...ALL_CACHED,
        "count/0": "ran",
        "count/1": "ran",
      });
      assert.equal(await Deno.readTextFile(`${data}/out/a.txt`), "6 chars\n");
      assert.equal((await p.decisions(run.runId)).count[1].why, "code changed: summary.ts");
    });

    await t.step("a changed arg reruns that task", async () => {
      const run = await p.run(pipeline({ upperArgs: { note: 1 } }));
      assert.deepEqual(await p.outcomes(run.runId), { ...ALL_CACHED, "upper/0": "ran" });
      assert.equal((await p.decisions(run.runId)).upper[0].why, "args changed");
    });

    await t.step("lineage names the writer, what it read, and the readers", async () => {
      const result = await p.cli(["lineage", "mid/a.txt", "--data-dir", "data"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^mid\/a\.txt: written by ktpr[0-9a-f]{8} upper\/0 \(steps\.upper\)/,
      );
      assert.match(result.stdout, /which read:\n {2}input\/a\.txt\n/);
      assert.match(result.stdout, /read by:\n {2}ktpr[0-9a-f]{8} count\/0 \(summary\.count\)/);
      const none = await p.cli(["lineage", "input/zzz.txt", "--data-dir", "data"]);
      assert.match(none.stdout, /no task with the cache wrote it/);
      const bad = await p.cli(["lineage", "../x", "--data-dir", "data"]);
      assert.equal(bad.code, 2);
    });
  } finally {
    await Deno.remove(p.dir, { recursive: true });
  }
});

Deno.test("run --cache: what is never stored (a process started, a failure) and cache: on a job", async () => {
  const p = await project();
  try {
    await Deno.writeTextFile(`${p.dir}/data/input/flag.txt`, "fail\n");
    const spec = {
      name: "never",
      jobs: [
        {
          name: "spawn",
          type: "static",
          tasks: [{ function: "steps.spawns", args: { output: "s.txt" } }],
        },
        {
          name: "fail",
          type: "static",
          tasks: [{ function: "steps.fails", args: { input: "input/flag.txt" } }],
        },
        {
          name: "off",
          type: "static",
          cache: false,
          tasks: [{ function: "summary.count", args: { input: "input/a.txt", output: "o.txt" } }],
        },
      ],
    };
    await Deno.writeTextFile(`${p.dir}/pipeline.yaml`, stringify(spec));
    const args = ["run", "pipeline.yaml", "--functions", "fns", "--data-dir", "data", "--cache"];
    const first = await p.cli(args);
    assert.equal(first.code, 1, "the failing task fails the run");
    const second = await p.cli(args);
    const runId = runIdOf(second.stdout);
    const why = await p.decisions(runId);
    assert.equal(why.spawn[0].outcome, "ran");
    assert.match(why.spawn[0].why, /not stored: it started a process \(true\)/);
    assert.match(why.fail[0].why, /failed, not stored/);
    assert.equal(why.off, undefined, "a job with cache: false does not use the cache");
    // Without --cache, a job with cache: true does.
    const on = {
      name: "on",
      jobs: [{
        name: "on",
        type: "static",
        cache: true,
        tasks: [{ function: "summary.count", args: { input: "input/a.txt", output: "o.txt" } }],
      }],
    };
    await p.run(on, []);
    const again = await p.run(on, []);
    assert.deepEqual(await p.outcomes(again.runId), { "on/0": "cached" });
  } finally {
    await Deno.remove(p.dir, { recursive: true });
  }
});

Deno.test("resume of a run started with --cache keeps caching: hits answered, entries stored", async () => {
  const p = await project();
  const input = (name: string, text: string) =>
    Deno.writeTextFile(`${p.dir}/data/input/${name}`, text);
  try {
    await input("ok.txt", "ok\n");
    await input("flag.txt", "fine\n");
    const base = pipeline();
    const spec = {
      name: "resumed",
      jobs: [
        base.jobs[0],
        {
          name: "gate",
          type: "static",
          tasks: ["ok.txt", "flag.txt"].map((f) => ({
            function: "steps.fails",
            args: { input: `input/${f}` },
          })),
        },
        { ...base.jobs[1] as Record<string, unknown>, dependencies: ["upper", "gate"] },
      ],
    };
    await p.run(spec);
    await input("flag.txt", "fail\n");
    await Deno.writeTextFile(`${p.dir}/pipeline.yaml`, stringify(spec));
    const failed = await p.cli([
      "run",
      "pipeline.yaml",
      "--functions",
      "fns",
      "--data-dir",
      "data",
      "--cache",
    ]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    const runId = runIdOf(failed.stdout);
    assert.deepEqual(await p.outcomes(runId), {
      "upper/0": "cached",
      "upper/1": "cached",
      "gate/0": "cached",
      "gate/1": "ran",
    });

    // Fixed, and resumed without --cache: the run was started with it.
    await input("flag.txt", "fine again\n");
    const resumed = await p.cli(["resume", runId, "--data-dir", "data"]);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(await p.outcomes(runId), {
      "upper/0": "cached",
      "upper/1": "cached",
      "gate/0": "cached",
      "gate/1": "ran",
      "count/0": "cached",
      "count/1": "cached",
    });
    const why = await p.decisions(runId);
    assert.equal(why.gate[0].why, "its entry holds", "the earlier attempt's decision is kept");
    assert.match(why.gate[1].why, /^input input\/flag\.txt changed/);
    const status = await p.cli(["status", runId, "--data-dir", "data"]);
    assert.match(status.stdout, /gate: 1 cached, 1 ran/);
    // The resumed attempt stored gate/1's entry: the next run answers it.
    const next = await p.run(spec);
    assert.deepEqual(await p.outcomes(next.runId), {
      "upper/0": "cached",
      "upper/1": "cached",
      "gate/0": "cached",
      "gate/1": "cached",
      "count/0": "cached",
      "count/1": "cached",
    });
  } finally {
    await Deno.remove(p.dir, { recursive: true });
  }
});

Deno.test("run --cache: two runs writing the cache at once leave whole entries that a third run uses", async () => {
  const p = await project();
  try {
    await Deno.writeTextFile(`${p.dir}/pipeline.yaml`, stringify(pipeline()));
    const args = ["run", "pipeline.yaml", "--functions", "fns", "--data-dir", "data", "--cache"];
    const both = await Promise.all([p.cli(args), p.cli(args)]);
    for (const result of both) assert.equal(result.code, 0, result.stdout + result.stderr);
    const third = await p.run();
    assert.deepEqual(await p.outcomes(third.runId), ALL_CACHED);
    // prune --cache --keep 1 keeps what the newest run used, and nothing else is there.
    const pruned = await p.cli(["prune", "--cache", "--keep", "1", "--data-dir", "data"]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /^removed \d+ cache entr/);
    const memo = `${p.dir}/data/kt-metadata/cache/digest_memo.json`;
    assert.equal(await Deno.stat(memo).then(() => true, () => false), false);
    const fourth = await p.run();
    assert.deepEqual(await p.outcomes(fourth.runId), ALL_CACHED);
    const bad = await p.cli(["prune", "--cache", "--older-than", "1d", "--data-dir", "data"]);
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(p.dir, { recursive: true });
  }
});

Deno.test("run --cache on the examples: TypeScript hello-world and Python kube-transform-hello", async (t) => {
  const python = await pandasPython();
  for (const example of ["hello-world", "kube-transform-hello"]) {
    await t.step(example, async () => {
      const source = new URL(`../examples/${example}`, import.meta.url).pathname;
      const dir = await Deno.makeTempDir({ prefix: "kt-cache-example-" });
      try {
        await copy(`${source}/data/input`, `${dir}/data/input`);
        await copy(`${source}/kt_functions`, `${dir}/kt_functions`);
        const run = async () => {
          const result = await ktDeno(
            [
              "run",
              `${source}/pipeline.yaml`,
              "--data-dir",
              "data",
              "--cache",
            ],
            dir,
            { KT_PYTHON: python },
          );
          assert.equal(result.code, 0, result.stdout + result.stderr);
          const runId = runIdOf(result.stdout);
          const out: Record<string, string> = {};
          for await (const entry of Deno.readDir(`${dir}/data/kt-metadata/${runId}/cache`)) {
            const list: CacheDecision[] = JSON.parse(
              await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/cache/${entry.name}`),
            );
            for (const d of list) out[`${entry.name.slice(0, -5)}/${d.index}`] = d.outcome;
          }
          return out;
        };
        const first = await run();
        const tasks = Object.keys(first).sort();
        assert.equal(tasks.length, 4, JSON.stringify(first));
        assert.ok(Object.values(first).every((o) => o === "ran"));
        const second = await run();
        assert.ok(Object.values(second).every((o) => o === "cached"), JSON.stringify(second));
        assert.deepEqual(Object.keys(second).sort(), tasks, "the cached plan returned its jobs");
        await Deno.writeTextFile(`${dir}/data/input/name.txt`, "Someone else\n");
        const third = await run();
        const ran = Object.entries(third).filter(([, o]) => o === "ran").map(([t]) => t);
        // The plan listed the folder (its names did not change) and the task that read the file.
        assert.equal(ran.length, 1, JSON.stringify(third));
        assert.match(await Deno.readTextFile(`${dir}/data/output/name.txt`), /Someone else/);
        // A changed module reruns the tasks of the functions whose code imports it.
        const helper = example === "hello-world" ? "hello.ts" : "greeting.py";
        const code = await Deno.readTextFile(`${dir}/kt_functions/${helper}`);
        const comment = helper.endsWith(".py") ? "# edited" : "// edited";
        await Deno.writeTextFile(`${dir}/kt_functions/${helper}`, `${code}\n${comment}\n`);
        const fourth = await run();
        assert.ok(Object.values(fourth).every((o) => o === "ran"), JSON.stringify(fourth));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("run --cache: a Python task that starts a process or opens a data-dir file itself is never stored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-cache-python-" });
  try {
    await Deno.mkdir(`${dir}/fns`);
    await Deno.writeTextFile(
      `${dir}/fns/side.py`,
      `import os
import subprocess

from kube_transform import fsutil as fs


def spawns(output):
    subprocess.run(["true"], check=True)
    fs.write(output, "spawned")


def opens(output):
    with open(os.path.join(os.environ["DATA_DIR"], "input", "a.txt")) as f:
        text = f.read()
    fs.write(output, text)


def clean(output):
    fs.write(output, fs.read("input/a.txt"))
`,
    );
    await Deno.mkdir(`${dir}/data/input`, { recursive: true });
    await Deno.writeTextFile(`${dir}/data/input/a.txt`, "a\n");
    const spec = {
      name: "py",
      jobs: ["spawns", "opens", "clean"].map((fn) => ({
        name: fn,
        type: "static",
        tasks: [{ function: `side.${fn}`, args: { output: `out/${fn}.txt` } }],
      })),
    };
    await Deno.writeTextFile(`${dir}/pipeline.yaml`, stringify(spec));
    const args = ["run", "pipeline.yaml", "--functions", "fns", "--data-dir", "data", "--cache"];
    const env = { KT_PYTHON: await pandasPython() };
    assert.equal((await ktDeno(args, dir, env)).code, 0);
    const second = await ktDeno(args, dir, env);
    assert.equal(second.code, 0, second.stderr);
    const runId = runIdOf(second.stdout);
    const why = await ktDeno(["why", runId, "spawns", "--data-dir", "data"], dir);
    assert.match(
      why.stdout,
      /spawns\/0: ran: .*not stored: it started a process \(subprocess\.Popen\)/,
    );
    const opens = await ktDeno(["why", runId, "opens/0", "--data-dir", "data"], dir);
    assert.match(opens.stdout, /opens\/0: ran: .*not stored: it opened .*input\/a\.txt itself/);
    const clean = await ktDeno(["why", runId, "clean/0", "--data-dir", "data"], dir);
    assert.equal(clean.stdout.trim(), "clean/0: cached: its entry holds");
    const bad = await ktDeno(["why", runId, "nojob", "--data-dir", "data"], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /has no cached job nojob/);
    const none = await ktDeno(["why", "ktpr00000000", "x", "--data-dir", "data"], dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no run ktpr00000000 in data dir data/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const MANY = `
export async function one(args: { name: string }, ctx: any) {
  await ctx.fs.write(\`out/\${args.name}\`, (await ctx.fs.read(\`in/\${args.name}\`)).toUpperCase());
}
export async function all(_args: unknown, ctx: any) {
  let text = "";
  for (const name of await ctx.fs.listdir("in")) text += await ctx.fs.read(\`in/\${name}\`);
  await ctx.fs.write("out/all.txt", text);
}
export async function flaky(_args: unknown, ctx: any) {
  if (!(await ctx.fs.exists("state/tried"))) {
    await ctx.fs.write("state/tried", "once");
    throw new Error("the first attempt fails");
  }
  await ctx.fs.write("out/flaky.txt", "second attempt");
}
`;

Deno.test("run --cache on batched worker tasks: hits and misses in one batch, a large record, a retry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-cache-batch-" });
  const count = 300;
  // Long names: the listing task's record of 300 reads is over 16 KiB, more than a reply line.
  const name = (i: number) => `${i}-${"n".repeat(80)}.txt`;
  try {
    await Deno.mkdir(`${dir}/fns`);
    await Deno.mkdir(`${dir}/tmp`);
    await Deno.writeTextFile(`${dir}/fns/many.ts`, MANY);
    await Deno.mkdir(`${dir}/data/in`, { recursive: true });
    for (let i = 0; i < count; i++) {
      await Deno.writeTextFile(`${dir}/data/in/${name(i)}`, `file ${i}\n`);
    }
    const spec = {
      name: "batched",
      jobs: [
        {
          name: "one",
          type: "static",
          tasks: Array.from({ length: count }, (_, i) => ({
            function: "many.one",
            args: { name: name(i) },
          })),
        },
        { name: "all", type: "static", tasks: [{ function: "many.all" }] },
        { name: "flaky", type: "static", retries: 1, tasks: [{ function: "many.flaky" }] },
      ],
    };
    await Deno.writeTextFile(`${dir}/pipeline.yaml`, stringify(spec));
    const run = async () => {
      const result = await ktDeno(
        ["run", "pipeline.yaml", "--functions", "fns", "--data-dir", "data", "--cache"],
        dir,
        { TMPDIR: `${dir}/tmp` },
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const runId = runIdOf(result.stdout);
      const read = async (job: string): Promise<CacheDecision[]> =>
        JSON.parse(await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/cache/${job}.json`));
      return { one: await read("one"), all: await read("all"), flaky: await read("flaky") };
    };
    const first = await run();
    assert.equal(first.one.length, count);
    assert.ok(first.one.every((d) => d.outcome === "ran" && d.key), JSON.stringify(first.one[0]));
    // The listing task's record came in a temporary file (see task/worker.ts).
    assert.equal(first.all[0].outcome, "ran");
    assert.ok(first.all[0].key, first.all[0].why);
    // The retry ran alone, its file operations recorded and stored as the batch's were.
    assert.ok(first.flaky[0].key, first.flaky[0].why);
    const second = await run();
    for (const job of ["one", "all", "flaky"] as const) {
      assert.ok(second[job].every((d) => d.outcome === "cached"), job);
    }
    await Deno.writeTextFile(`${dir}/data/in/${name(150)}`, "changed\n");
    const third = await run();
    const ran = third.one.filter((d) => d.outcome === "ran").map((d) => d.index);
    assert.deepEqual(ran, [150]);
    assert.equal(third.one.length, count);
    assert.match(third.one.find((d) => d.index === 150)!.why, /input in\/150-n+\.txt changed/);
    assert.equal(third.all[0].outcome, "ran");
    assert.equal(await Deno.readTextFile(`${dir}/data/out/${name(150)}`), "CHANGED\n");
    // No record file is left behind in the temporary folder.
    const left = [];
    for await (const entry of Deno.readDir(`${dir}/tmp`)) {
      if (entry.name.startsWith("kt-observed-")) left.push(entry.name);
    }
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run --cache: a large YAML spec run again unchanged is read from its parsed form", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-cache-spec-" });
  try {
    const spec = (word: string, comment: string) =>
      stringify({
        name: "kept",
        jobs: [{
          name: "a",
          type: "static",
          tasks: [{ command: ["sh", "-c", `echo ${word} >> ${dir}/said.txt`] }],
        }],
      }) + `# ${comment.repeat(70_000)}\n`;
    await Deno.writeTextFile(`${dir}/pipeline.yaml`, spec("one", "x"));
    const run = async () => {
      const result = await ktDeno(["run", "pipeline.yaml", "--data-dir", "data", "--cache"], dir);
      assert.equal(result.code, 0, result.stderr);
    };
    await run();
    const kept = [...Deno.readDirSync(`${dir}/data/kt-metadata/cache/specs`)].map((e) => e.name);
    assert.equal(kept.length, 1);
    const path = `${dir}/data/kt-metadata/cache/specs/${kept[0]}`;
    const parsed = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(parsed.jobs[0].tasks[0].command, ["sh", "-c", `echo one >> ${dir}/said.txt`]);
    // The same text again: its kept form is what runs (here changed behind its back).
    parsed.jobs[0].tasks[0].command[2] = `echo two >> ${dir}/said.txt`;
    await Deno.writeTextFile(path, JSON.stringify(parsed));
    await run();
    // Other text (one more character in a comment): parsed again, and kept too.
    await Deno.writeTextFile(`${dir}/pipeline.yaml`, spec("one", "y"));
    await run();
    assert.equal(await Deno.readTextFile(`${dir}/said.txt`), "one\ntwo\none\n");
    assert.equal([...Deno.readDirSync(`${dir}/data/kt-metadata/cache/specs`)].length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
