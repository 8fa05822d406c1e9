/**
 * Values from users that used to crash kt-deno: null jobs in a spec or in what a dynamic
 * function returns, values nested too deeply, runs of 150,000 jobs.
 */
import assert from "node:assert/strict";
import { exists, FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile } from "./cli_helpers.ts";

const DYNAMIC = (args: unknown, fn = "hostile.give") => ({
  name: "pipe",
  jobs: [{ name: "dyn", type: "dynamic", function: fn, args }],
});

async function runSpec(spec: unknown, extra: string[] = []) {
  const { dir, path } = await specFile(spec);
  const result = await ktDeno(
    ["run", path, "--data-dir", `${dir}/data`, "--functions", FIXTURE_FUNCTIONS, ...extra],
    dir,
  );
  return { dir, ...result };
}

async function stateOf(dir: string, runId: string) {
  return JSON.parse(
    await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
  );
}

Deno.test("a null entry in jobs (a trailing '-') is exit 2 naming the entry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-null-" });
  try {
    await Deno.writeTextFile(`${dir}/p.yaml`, "name: p\njobs:\n  - type: static\n  -\n");
    for (const command of ["validate", "run"]) {
      const result = await ktDeno(
        [command, "p.yaml", "--data-dir", "data"].slice(0, command === "run" ? 4 : 2),
        dir,
      );
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /jobs\[1\] is null, expected a job/);
      assert.doesNotMatch(result.stderr, /Cannot read properties/);
    }
    assert.equal(await exists(`${dir}/data`), false, "nothing written");
    await Deno.writeTextFile(`${dir}/q.yaml`, "name: p\njobs:\n  - 3\n  - [a]\n");
    const result = await ktDeno(["validate", "q.yaml"], dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /jobs\[0\] is a number/);
    assert.match(result.stderr, /jobs\[1\] is a list/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("args nested deeper than 100 levels are exit 2 naming job and task", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-deep-" });
  try {
    const n = 10_000;
    const nested = "[".repeat(n) + "]".repeat(n);
    await Deno.writeTextFile(
      `${dir}/deep.json`,
      `{"name":"deep","jobs":[{"name":"j","type":"static","tasks":[{"command":["true"]},{"command":["true"],"args":{"a":${nested}}}]}]}`,
    );
    for (const command of [["validate", "deep.json"], ["run", "deep.json", "--data-dir", "data"]]) {
      const result = await ktDeno(command, dir);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /job "j", field tasks\[1\]\.args: nested deeper than 100 levels/);
    }
    assert.equal(await exists(`${dir}/data`), false, "no run record, not even a half one");
    const list = await ktDeno(["list", "--data-dir", "data"], dir);
    assert.doesNotMatch(list.stdout, /ktpr/);
    // A YAML document nested past what its parser can take is exit 2 too.
    await Deno.writeTextFile(`${dir}/deep.yaml`, `name: d\njobs: ${nested}\n`);
    const yaml = await ktDeno(["validate", "deep.yaml"], dir);
    assert.equal(yaml.code, 2, yaml.stderr);
    assert.match(yaml.stderr, /cannot parse deep.yaml: nested too deeply/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a dynamic job returning null entries fails naming the entry; the run ends", async () => {
  for (
    const [value, entry] of [
      [[null], "returned job 1 is null"],
      [[{ type: "static" }, null], "returned job 2 is null"],
      [["x"], "returned job 1 is a string"],
      [null, ""],
      [{ a: 1 }, "expected a list of jobs"],
    ] as const
  ) {
    const { dir, code, stdout, stderr } = await runSpec(DYNAMIC({ value }));
    try {
      const runId = runIdOf(stdout);
      const doc = await stateOf(dir, runId);
      if (value === null) {
        assert.equal(code, 0, stderr); // null is an empty list, as in kube-transform
        continue;
      }
      assert.equal(code, 1, stderr);
      assert.doesNotMatch(stderr, /Cannot read properties/);
      assert.equal(doc.status, "Failed");
      assert.equal(doc.jobs.dyn.status, "Failed");
      assert.match(doc.jobs.dyn.error, new RegExp(entry));
      const list = await ktDeno(["list", "--data-dir", "data"], dir);
      assert.match(list.stdout, /Failed/);
      assert.doesNotMatch(list.stdout, /launcher gone/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a dynamic job returning values nested 20,000 deep, or circular, fails with a clear message", async () => {
  for (
    const [fn, args] of [["hostile.deep", { depth: 20_000 }], ["hostile.circular", {}]] as const
  ) {
    const { dir, code, stdout, stderr } = await runSpec(DYNAMIC(args, fn));
    try {
      assert.equal(code, 1, stderr);
      const doc = await stateOf(dir, runIdOf(stdout));
      assert.equal(doc.jobs.dyn.status, "Failed");
      assert.match(doc.jobs.dyn.error, /nested deeper than 100 levels/);
      assert.doesNotMatch(stderr, /Maximum call stack/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("every command that reads a run works on a run of 150,000 jobs", async () => {
  const { dir, code, stdout, stderr } = await runSpec(DYNAMIC({ count: 150_000 }, "hostile.many"));
  try {
    assert.equal(code, 0, stderr);
    const runId = runIdOf(stdout);
    const data = `${dir}/data`;
    for (
      const args of [
        ["status", runId],
        ["logs", runId],
        ["list"],
        ["report", runId],
        ["resume", runId],
      ]
    ) {
      const result = await ktDeno([...args, "--data-dir", data], dir);
      assert.ok(
        result.code === 0 || (args[0] === "resume" && result.code === 2),
        `${args.join(" ")}: exit ${result.code}\n${result.stderr}`,
      );
      assert.doesNotMatch(result.stderr, /Maximum call stack|RangeError/, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run that fails before its first state write leaves no record behind", async () => {
  const { runLocally } = await import("../src/run/local_run.ts");
  const { validatePipeline } = await import("../src/spec/validate.ts");
  const spec = validatePipeline({ name: "p", jobs: [{ name: "a", type: "static", tasks: [{}] }] });
  assert.ok(spec.ok);
  // Args that serialize once (the kept spec) and then fail (the first state write), past
  // validation, as a program using the API could pass them.
  let calls = 0;
  (spec.value.jobs[0].tasks as { args: unknown }[])[0].args = {
    toJSON: () => {
      if (++calls > 1) throw new Error("not again");
      return {};
    },
  };
  const dataDir = await Deno.makeTempDir({ prefix: "kt-ghost-" });
  try {
    await assert.rejects(() =>
      runLocally(spec.value, { runId: "ktpr0000g405", dataDir, functionsDir: dataDir })
    );
    assert.ok(calls > 1, "the state write was reached");
    assert.deepEqual([...Deno.readDirSync(`${dataDir}/kt-metadata`)], []);
    const list = await ktDeno(["list", "--data-dir", dataDir], dataDir);
    assert.doesNotMatch(list.stdout, /ktpr0000g405/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
