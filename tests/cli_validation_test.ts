import assert from "node:assert/strict";
import { exists, FIXTURE_FUNCTIONS, ktDeno, specFile } from "./cli_helpers.ts";

/** Runs a bad spec through `run` and `validate`: exit 2, the message, nothing written. */
async function rejects(spec: unknown, ...messages: RegExp[]) {
  const { dir, path } = await specFile(spec);
  try {
    const dataDir = `${dir}/kt-data`;
    const run = await ktDeno(
      ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    assert.equal(run.code, 2, run.stderr);
    for (const message of messages) assert.match(run.stderr, message);
    assert.equal(run.stdout, "", "nothing runs, so no run id is printed");
    assert.equal(await exists(dataDir), false, "no data dir is created");
    const validate = await ktDeno(["validate", path], dir);
    assert.equal(validate.code, 2);
    for (const message of messages) assert.match(validate.stderr, message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const task = { function: "steps.ok", args: { name: "x" } };

Deno.test("an unknown dependency is named with its job", async () => {
  await rejects(
    { name: "p", jobs: [{ name: "a", type: "static", tasks: [task], dependencies: ["nope"] }] },
    /job "a", field dependencies: unknown job "nope"/,
  );
});

Deno.test("a dependency cycle is named", async () => {
  await rejects({
    name: "p",
    jobs: [
      { name: "a", type: "static", dependencies: ["c"] },
      { name: "b", type: "static", dependencies: ["a"] },
      { name: "c", type: "static", dependencies: ["b"] },
    ],
  }, /dependency cycle: a -> c -> b -> a/);
});

Deno.test("names that collide after sanitizing are duplicates", async () => {
  await rejects(
    {
      name: "p",
      jobs: [{ name: "Load_Data", type: "static" }, { name: "load-data", type: "static" }],
    },
    /Duplicate job name "load-data"/,
  );
});

Deno.test("invalid resource quantities are rejected per job and field", async () => {
  await rejects(
    {
      name: "p",
      jobs: [{ name: "a", type: "static", memory: "16 GB" }, {
        name: "b",
        type: "static",
        cpu: "lots",
      }],
    },
    /job "a", field memory: invalid memory quantity "16 GB"/,
    /job "b", field cpu: invalid cpu quantity "lots"/,
  );
});

Deno.test("a name that cannot become a Kubernetes name is rejected", async () => {
  await rejects(
    { name: "p", jobs: [{ name: "!!!", type: "static" }] },
    /job "!!!", field name: becomes ""/,
  );
  await rejects(
    { name: "p", jobs: [{ name: "-edge-", type: "static" }] },
    /not a valid Kubernetes name/,
  );
});

Deno.test("function references that are not module.path.function are rejected", async () => {
  for (const ref of ["../evil.fn", "a/b.fn", "fn", "a..b", "/etc.passwd"]) {
    await rejects(
      { name: "p", jobs: [{ name: "a", type: "static", tasks: [{ function: ref }] }] },
      /job "a", field tasks\[0\]\.function: function reference must be module\.path\.function/,
    );
  }
  await rejects(
    { name: "p", jobs: [{ name: "d", type: "dynamic", function: "../x.y" }] },
    /job "d", field function: function reference/,
  );
});

Deno.test("unknown fields and static/dynamic mix-ups are rejected", async () => {
  await rejects(
    { name: "p", jobs: [{ name: "a", type: "static", colour: "red" }] },
    /job "a".*"colour"/,
  );
  await rejects(
    { name: "p", jobs: [{ name: "a", type: "static", function: "m.f" }] },
    /job "a", field function: a static job takes tasks, not function/,
  );
  await rejects(
    { name: "p", jobs: [{ name: "d", type: "dynamic", tasks: [] }] },
    /job "d", field tasks: a dynamic job takes function and args, not tasks/,
  );
  await rejects({ name: "p", extra: 1 }, /Unrecognized key: "extra"/);
  await rejects({ jobs: [] }, /field name: /);
});

Deno.test("an unreadable or unparsable spec is bad input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await ktDeno(["run", "nope.yaml", "--data-dir", "d"], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read nope\.yaml/);
    await Deno.writeTextFile(`${dir}/bad.yaml`, "name: [unclosed");
    const bad = await ktDeno(["run", "bad.yaml", "--data-dir", "d"], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /cannot parse bad\.yaml/);
    assert.equal(await exists(`${dir}/d`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad flags are usage errors", async () => {
  const { dir, path } = await specFile({ name: "p", jobs: [{ type: "static", tasks: [task] }] });
  try {
    const concurrency = await ktDeno(["run", path, "--concurrency", "0", "--data-dir", "d"], dir);
    assert.equal(concurrency.code, 2);
    assert.match(concurrency.stderr, /--concurrency must be a positive integer, got "0"/);
    const functions = await ktDeno(["run", path, "--functions", "missing", "--data-dir", "d"], dir);
    assert.equal(functions.code, 2);
    assert.match(functions.stderr, /functions folder missing not found/);
    const unknown = await ktDeno(["run", path, "--bogus"], dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--bogus'/);
    const none = await ktDeno([], dir);
    assert.equal(none.code, 2);
    assert.equal(await exists(`${dir}/d`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a valid kube-transform spec validates unchanged", async () => {
  const { dir, path } = await specFile({
    name: "kt",
    jobs: [
      { type: "dynamic", function: "steps.spawn", args: { jobs: [] } },
      {
        name: "Static_Job",
        type: "static",
        memory: "1.5Gi",
        cpu: "1e3",
        dependencies: ["pipeline-kt-job-0"],
        tasks: [{ function: "steps.ok", args: { name: "a" } }, {}],
      },
    ],
  });
  try {
    const result = await ktDeno(["validate", path], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid pipeline "kt", 2 jobs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A chain listed dependents-first: step-0 needs step-1, ..., the last needs nothing. */
function chain(length: number) {
  return Array.from({ length }, (_, i) => ({
    name: `step-${i}`,
    type: "static",
    dependencies: i < length - 1 ? [`step-${i + 1}`] : [],
  }));
}

Deno.test("a 10,000-job chain listed dependents-first validates", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-cli-test-" });
  try {
    await Deno.writeTextFile(
      `${dir}/chain.json`,
      JSON.stringify({ name: "long", jobs: chain(1e4) }),
    );
    const result = await ktDeno(["validate", "chain.json"], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid pipeline "long", 10000 jobs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a cycle in a 10,000-job chain is named", async () => {
  const jobs = chain(10_000);
  jobs[7_001].dependencies.push("step-6999");
  await rejects(
    { name: "long", jobs },
    /job "step-6999", field dependencies: dependency cycle: step-6999 -> step-7000 -> step-7001 -> step-6999/,
  );
});

Deno.test("flow-style YAML is YAML", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-cli-test-" });
  try {
    await Deno.writeTextFile(`${dir}/flow.yaml`, "{name: flow, jobs: [{name: a, type: static}]}\n");
    const result = await ktDeno(["validate", "flow.yaml"], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid pipeline "flow", 1 jobs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parallelism above Kubernetes' Indexed Job limit is rejected, naming the job", async () => {
  await rejects(
    { name: "p", jobs: [{ name: "wide", type: "static", tasks: [task], parallelism: 100_001 }] },
    /job "wide", field parallelism: at most 100000 \(Kubernetes' limit/,
  );
});
