/**
 * A spec fuzzer in the suite: mutated specs (fields dropped, swapped for nulls, wrong
 * types, huge or odd strings, deep values, truncated JSON and YAML) and mutated job lists
 * a dynamic function returns. Every outcome is valid, or a spec error naming what is
 * wrong (exit 2 from the CLI); never another exception, a stack trace or exit 1. The seed
 * is fixed, so a failure is found again by running the test again.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { main } from "../src/cli/main.ts";
import { parseSpec } from "../src/spec/parse_spec.ts";
import { SpecError } from "../src/spec/problems.ts";
import { validateDescendants } from "../src/spec/validate.ts";
import { ktDeno, runIdOf } from "./cli_helpers.ts";

/** mulberry32: a small PRNG with a fixed seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE = {
  name: "fuzz",
  jobs: [
    {
      name: "plan",
      type: "dynamic",
      function: "steps.spawn",
      args: { jobs: [{ type: "static", tasks: [{ function: "steps.noop" }] }], n: 3 },
      memory: "512Mi",
      cpu: "250m",
      retries: 1,
    },
    {
      name: "load",
      type: "static",
      dependencies: ["plan"],
      tasks: [
        { function: "steps.ok", args: { name: "a", list: [1, 2, { x: "y" }] } },
        { command: ["echo", "hi"] },
      ],
      timeout: 30,
      parallelism: 2,
      node_selector: { "kubernetes.io/arch": "amd64" },
      tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
    },
  ],
};

const ODD_STRINGS = [
  "",
  " ",
  "../../etc/passwd",
  "/abs",
  "a\u0000b",
  "\u202eevil",
  "\x1b[2J",
  "名前",
  "😀".repeat(50),
  "x".repeat(100_000),
  "<script>alert(1)</script>",
  "a.b.c.d.e.f",
  "1e309",
  "-1",
  "NaN",
  "null",
  "~",
  "- a\n- b",
  "{",
];

type Rand = () => number;

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)];
}

function deep(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { k: value };
  return value;
}

function oddValue(rand: Rand): unknown {
  return pick(rand, [
    () => null,
    () => undefined,
    () => pick(rand, ODD_STRINGS),
    () => Math.floor(rand() * 2e9) - 1e9,
    () => rand() * 1e300,
    () => -0.5,
    () => true,
    () => [],
    () => ({}),
    () => [null],
    () => [pick(rand, ODD_STRINGS), 7],
    () => ({ [pick(rand, ODD_STRINGS)]: pick(rand, ODD_STRINGS) }),
    () => deep(Math.floor(rand() * 300)),
    () => Array.from({ length: 1000 }, (_, i) => i),
  ])();
}

/** Every path to a value inside a document. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

/** The document with one to three mutations. */
function mutate(rand: Rand, base: unknown): unknown {
  const doc = structuredClone(base);
  const count = 1 + Math.floor(rand() * 3);
  for (let m = 0; m < count; m++) {
    const all = paths(doc).filter((p) => p.length > 0);
    const path = pick(rand, all);
    let parent = doc as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    if (parent === null || typeof parent !== "object") continue;
    const key = path.at(-1)!;
    const action = rand();
    if (action < 0.25) {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (action < 0.5) parent[key] = null;
    else if (action < 0.85) parent[key] = oddValue(rand);
    else if (!Array.isArray(parent)) parent[pick(rand, ODD_STRINGS) || "extra"] = oddValue(rand);
    else parent.push(oddValue(rand));
  }
  return doc;
}

/** Spec text: JSON or YAML of the document, now and then cut short or with a byte changed. */
function text(rand: Rand, doc: unknown): string {
  let out = rand() < 0.5 ? JSON.stringify(doc) ?? "" : stringify(doc);
  const r = rand();
  if (r < 0.15) out = out.slice(0, Math.floor(rand() * out.length));
  else if (r < 0.25) {
    const at = Math.floor(rand() * out.length);
    out = out.slice(0, at) + pick(rand, ["\0", "{", "]", ":", "\t", "&a", "*a", "<<: *x", "\n-"]) +
      out.slice(at + 1);
  }
  return out;
}

/** Throws unless `error` is a spec error whose every problem says something. */
function expectSpecError(error: unknown, input: string): void {
  if (!(error instanceof SpecError)) {
    throw new Error(
      `not a spec error: ${(error as Error)?.stack ?? error}\ninput: ${input.slice(0, 500)}`,
    );
  }
  assert.ok(error.problems.length > 0, input.slice(0, 500));
  for (const problem of error.problems) {
    assert.ok(typeof problem.message === "string" && problem.message.length > 0);
  }
}

Deno.test("3,000 mutated specs through validation: valid or a spec error, nothing else", () => {
  const rand = random(22);
  let valid = 0, invalid = 0;
  for (let i = 0; i < 3000; i++) {
    const input = text(rand, mutate(rand, BASE));
    try {
      parseSpec(input, `case ${i}`);
      valid++;
    } catch (error) {
      expectSpecError(error, input);
      invalid++;
    }
  }
  assert.ok(valid > 100 && invalid > 1000, `${valid} valid, ${invalid} invalid`);
});

Deno.test("problems in a job name the job or the field", () => {
  const rand = random(7);
  for (let i = 0; i < 1000; i++) {
    const doc = mutate(rand, BASE) as { jobs?: unknown };
    if (!Array.isArray(doc?.jobs)) continue;
    try {
      parseSpec(JSON.stringify(doc));
    } catch (error) {
      expectSpecError(error, JSON.stringify(doc));
      for (const problem of (error as SpecError).problems) {
        // A job, a field, the entry of the list, or (an unknown key) the key itself.
        const named = problem.job !== undefined || problem.field !== undefined ||
          /^jobs\[\d+\]|^cannot parse|^Unrecognized key/.test(problem.message);
        assert.ok(named, `unnamed: ${problem.message}\n${JSON.stringify(doc).slice(0, 500)}`);
      }
    }
  }
});

const RETURNED = [
  { name: "r1", type: "static", tasks: [{ function: "steps.noop", args: { a: [1] } }] },
  { type: "dynamic", function: "steps.spawn", args: {}, dependencies: ["r1"] },
  { name: "r3", type: "static", dependencies: ["plan"] },
];

Deno.test("3,000 mutated lists returned by a dynamic function: valid or named problems", () => {
  const rand = random(11);
  const existing = new Set(["plan", "load"]);
  for (let i = 0; i < 3000; i++) {
    const value = rand() < 0.1 ? oddValue(rand) : mutate(rand, RETURNED);
    let result;
    try {
      result = validateDescendants(value, "plan", existing);
    } catch (error) {
      throw new Error(
        `threw on ${JSON.stringify(value)?.slice(0, 500)}: ${(error as Error).stack}`,
      );
    }
    if (!result.ok) assert.ok(result.problems.every((p) => p.message.length > 0));
  }
});

/** Runs `kt-deno ARGS` in this process (the CLI's own entry), capturing what it prints. */
async function mainHere(args: string[]): Promise<{ code: number; stderr: string }> {
  const saved = [console.error, console.log];
  let stderr = "";
  console.error = (...parts: unknown[]) => stderr += parts.join(" ") + "\n";
  console.log = () => {};
  try {
    return { code: await main(args), stderr };
  } finally {
    [console.error, console.log] = saved;
  }
}

function checkCli(result: { code: number; stderr: string }, input: string, i: number): void {
  const where = `case ${i}: ${input.slice(0, 300)}\n${result.stderr.slice(0, 500)}`;
  assert.ok(result.code === 0 || result.code === 2, `exit ${result.code}; ${where}`);
  assert.doesNotMatch(result.stderr, /^\s+at |Cannot read prop|is not a function/m, where);
  if (result.code === 2) assert.match(result.stderr, /^kt-deno: /, where);
}

Deno.test("300 mutated specs through the CLI (kt-deno validate), 30 of them as processes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-fuzz-" });
  try {
    const rand = random(2026);
    const cases = Array.from({ length: 300 }, () => text(rand, mutate(rand, BASE)));
    for (const [i, input] of cases.entries()) {
      const file = `${dir}/case-${i}.yaml`;
      await Deno.writeTextFile(file, input);
      checkCli(await mainHere(["validate", file]), input, i);
    }
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < 30; i = next++) {
        checkCli(await ktDeno(["validate", `case-${i}.yaml`], dir), cases[i], i);
      }
    };
    await Promise.all([worker(), worker()]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run whose dynamic jobs return 40 mutated lists ends, each job done or failed with a reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-fuzz-run-" });
  try {
    const rand = random(5);
    const jobs = Array.from({ length: 40 }, (_, i) => ({
      name: `d${i}`,
      type: "dynamic",
      function: "hostile.give",
      args: { value: rand() < 0.2 ? oddValue(rand) : mutate(rand, RETURNED) },
    }));
    // Values the spec itself refuses (too deep) are not what this test is about.
    const spec = {
      name: "fuzz-run",
      jobs: jobs.filter((job) => JSON.stringify(job).length < 50_000),
    };
    await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(spec));
    const checked = await ktDeno(["validate", "spec.json"], dir);
    const usable = checked.code === 0 ? spec : {
      ...spec,
      jobs: spec.jobs.filter((job) => !checked.stderr.includes(`"${job.name}"`)),
    };
    await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(usable));
    const functions = new URL("./fixtures/kt_functions", import.meta.url).pathname;
    const result = await ktDeno(
      ["run", "spec.json", "--data-dir", "data", "--functions", functions],
      dir,
    );
    assert.ok(
      result.code === 0 || result.code === 1,
      `exit ${result.code}: ${result.stderr.slice(0, 2000)}`,
    );
    assert.doesNotMatch(result.stderr, /^\s+at |Cannot read prop|Maximum call stack/m);
    const runId = runIdOf(result.stdout);
    const state = JSON.parse(
      await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
    );
    assert.ok(["Completed", "Failed"].includes(state.status), state.status);
    for (
      const job of Object.values(state.jobs) as { name: string; status: string; error?: string }[]
    ) {
      assert.notEqual(job.status, "Running", job.name);
      if (job.status === "Failed") assert.ok(job.error, `${job.name} failed without a reason`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
