/**
 * `tasks_per_pod`: the spec field, the pod-count warning, and a local run that accepts the
 * field and changes nothing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { exists, FIXTURE_FUNCTIONS, ktDeno, specFile } from "./cli_helpers.ts";
import { podCount, podCountWarnings } from "../src/spec/pod_count.ts";
import { validatePipeline } from "../src/spec/validate.ts";

const task = { function: "steps.ok", args: { name: "x" } };

Deno.test("tasks_per_pod must be an integer of at least 1 on a static job, named with its job", async () => {
  const cases: [unknown, RegExp][] = [
    [0, /job "packed", field tasks_per_pod: .*>=1/],
    [1.5, /job "packed", field tasks_per_pod: .*expected int/i],
    ["10", /job "packed", field tasks_per_pod: .*expected number/i],
  ];
  for (const [value, message] of cases) {
    const { dir, path } = await specFile({
      name: "p",
      jobs: [{ name: "packed", type: "static", tasks: [task], tasks_per_pod: value }],
    });
    try {
      const run = await ktDeno(
        ["run", path, "--data-dir", `${dir}/kt-data`, "--functions", FIXTURE_FUNCTIONS],
        dir,
      );
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, "");
      assert.equal(await exists(`${dir}/kt-data`), false, "nothing is written");
      const validate = await ktDeno(["validate", path], dir);
      assert.equal(validate.code, 2);
      assert.match(validate.stderr, message);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const dynamic = validatePipeline({
    name: "p",
    jobs: [{ name: "d", type: "dynamic", function: "m.f", tasks_per_pod: 2 }],
  });
  assert.equal(dynamic.ok, false);
  assert.match(
    JSON.stringify(!dynamic.ok && dynamic.problems),
    /"job":"d","field":"tasks_per_pod","message":"a dynamic job takes function and args, not tasks_per_pod"/,
  );
});

Deno.test("the schema shows tasks_per_pod; a valid one is kept and absent means 1", async () => {
  const schema = await ktDeno(["schema"], Deno.cwd());
  assert.equal(schema.code, 0);
  const jobSchema = JSON.parse(schema.stdout).properties.jobs.items;
  assert.equal(jobSchema.properties.tasks_per_pod.type, "integer");
  assert.equal(jobSchema.properties.tasks_per_pod.minimum, 1);
  const valid = validatePipeline({
    name: "p",
    jobs: [{ name: "a", type: "static", tasks: [task], tasks_per_pod: 4 }, {
      name: "b",
      type: "static",
    }],
  });
  assert.ok(valid.ok);
  assert.equal(valid.value.jobs[0].tasks_per_pod, 4);
  assert.equal("tasks_per_pod" in valid.value.jobs[1], false, "the default adds nothing");
});

Deno.test("a job of more than 3,000 pods is warned of, with a tasks_per_pod that fits", async () => {
  const many = Array.from({ length: 3_001 }, () => ({ args: {} }));
  assert.equal(podCount({ type: "static", tasks: many }), 3_001);
  assert.equal(podCount({ type: "static", tasks: many, tasks_per_pod: 1_000 }), 4);
  assert.equal(podCount({ type: "dynamic" }), 1);
  assert.deepEqual(
    podCountWarnings([{ name: "ok", type: "static", tasks: many, tasks_per_pod: 2 }] as never),
    [],
  );
  const { dir, path } = await specFile({
    name: "p",
    jobs: [{
      name: "wide",
      type: "static",
      tasks: many.map((_, i) => ({ function: "steps.ok", args: { name: `t${i}` } })),
    }],
  });
  try {
    const validate = await ktDeno(["validate", path], dir);
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(
      validate.stderr,
      /kt-deno: warning: job "wide" would make 3001 pods on Kubernetes \(more than 3000\); set tasks_per_pod \(e\.g\. tasks_per_pod: 2\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a local run accepts tasks_per_pod and runs every task as before", async () => {
  const tasks = Array.from(
    { length: 5 },
    (_, i) => ({ function: "steps.ok", args: { name: `t${i}` } }),
  );
  const { dir, path } = await specFile({
    name: "p",
    jobs: [{ name: "packed", type: "static", tasks, tasks_per_pod: 2 }],
  });
  try {
    const dataDir = `${dir}/kt-data`;
    const run = await ktDeno(
      ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /warning/);
    for (let i = 0; i < 5; i++) {
      const done = JSON.parse(await Deno.readTextFile(`${dataDir}/done/t${i}`));
      assert.equal(done.index, i);
      assert.equal(done.env.JOB_COMPLETION_INDEX, String(i));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
