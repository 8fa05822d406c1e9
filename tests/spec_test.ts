import assert from "node:assert/strict";
import {
  findCycle,
  MAX_INDEXED_JOB,
  parseMilliQuantity,
  parseQuantity,
  parseSpec,
  pipelineJsonSchema,
  sanitizeName,
  scaleMemory,
  SpecError,
  validateDescendants,
  validatePipeline,
} from "../src/spec/mod.ts";

Deno.test("quantities parse as the API server's grammar allows, rounded up as it rounds", () => {
  const cases: [string, number | null][] = [
    ["1.5Gi", 1.5 * 2 ** 30],
    ["500m", 1],
    ["2", 2],
    ["1e3", 1000],
    ["1E-3", 1],
    [".5", 1],
    ["1.1Gi", 1181116007],
    ["1.15G", 1150000000],
    ["1m", 1],
    ["0", 0],
    ["1e400", Infinity],
    ["128974848", 128974848],
    ["129M", 129e6],
    ["123Mi", 123 * 2 ** 20],
    ["+1k", 1000],
    ["1e3m", null],
    ["16 GB", null],
    ["1.5gi", null],
    ["", null],
    ["Gi", null],
    ["1.2.3", null],
  ];
  for (const [text, value] of cases) assert.equal(parseQuantity(text), value, text);
  const millis: [string, number][] = [["500m", 500], ["1.5", 1500], ["0.1m", 1], ["2", 2000]];
  for (const [text, value] of millis) assert.equal(parseMilliQuantity(text), value, text);
});

Deno.test("the memory limit is computed from the value, not the digits", () => {
  assert.equal(scaleMemory("1.5Gi", 1.1), String(Math.ceil(1.5 * 2 ** 30 * 1.1)));
  assert.equal(scaleMemory("1Gi", 1.1), "1181116007");
  assert.equal(scaleMemory("500M", 1.1), "550000000");
});

Deno.test("names are sanitized as kube-transform does", () => {
  assert.equal(sanitizeName("Load_Data (v2)"), "load-datav2");
  assert.equal(sanitizeName("x".repeat(70)).length, 63);
});

Deno.test("defaults and automatic names follow kube-transform", () => {
  const result = validatePipeline({
    name: "My_Pipe",
    jobs: [{ type: "static" }, {
      type: "dynamic",
      function: "m.f",
      dependencies: ["pipeline-My_Pipe-job-0"],
    }],
  });
  assert.ok(result.ok);
  assert.deepEqual(result.value.jobs, [
    {
      name: "pipeline-my-pipe-job-0",
      type: "static",
      memory: "1Gi",
      cpu: "500m",
      dependencies: [],
      tasks: [],
    },
    {
      name: "pipeline-my-pipe-job-1",
      type: "dynamic",
      memory: "1Gi",
      cpu: "500m",
      dependencies: ["pipeline-my-pipe-job-0"],
      function: "m.f",
      args: {},
    },
  ]);
});

Deno.test("descendants are named after their parent and may depend on jobs in the run", () => {
  const result = validateDescendants(
    [{ type: "static", dependencies: ["earlier"] }, { type: "static", name: "named" }],
    "parent",
    new Set(["earlier", "parent"]),
  );
  assert.ok(result.ok);
  assert.deepEqual(result.value.map((j) => j.name), ["parent-job-0", "named"]);
  const clash = validateDescendants(
    [{ type: "static", name: "earlier" }],
    "parent",
    new Set(["earlier"]),
  );
  assert.ok(!clash.ok);
  assert.match(clash.problems[0].message, /Duplicate job name "earlier"/);
  const notList = validateDescendants({ jobs: [] }, "parent", new Set());
  assert.ok(!notList.ok);
});

Deno.test("cycles are found and named, self-loops included", () => {
  assert.deepEqual(findCycle([{ name: "a", dependencies: ["a"] }]), ["a", "a"]);
  assert.equal(
    findCycle([{ name: "a", dependencies: [] }, { name: "b", dependencies: ["a"] }]),
    null,
  );
});

Deno.test("extensions are optional and checked", () => {
  const ok = validatePipeline({
    name: "p",
    jobs: [{
      type: "static",
      retries: 2,
      timeout: 1.5,
      parallelism: 3,
      tasks: [{ command: ["true"] }],
    }],
  });
  assert.ok(ok.ok);
  const bad = validatePipeline({
    name: "p",
    jobs: [{
      name: "a",
      type: "static",
      retries: -1,
      tasks: [{ function: "m.f", command: ["x"] }],
    }],
  });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.problems.map((p) => p.field).sort(), ["retries", "tasks[0].command"]);
});

Deno.test("the JSON Schema describes the spec", () => {
  const schema = pipelineJsonSchema() as {
    required: string[];
    properties: Record<string, unknown>;
  };
  assert.deepEqual(schema.required, ["name"]);
  assert.deepEqual(Object.keys(schema.properties), ["name", "jobs"]);
});

/** A chain listed dependents-first: step-0 needs step-1, ..., the last needs nothing. */
function chain(length: number) {
  return Array.from({ length }, (_, i) => ({
    name: `step-${i}`,
    type: "static",
    dependencies: i < length - 1 ? [`step-${i + 1}`] : [],
  }));
}

Deno.test("a 10,000-job chain listed dependents-first validates, and a cycle in it is named", () => {
  const jobs = chain(10_000);
  assert.ok(validatePipeline({ name: "long", jobs }).ok);
  jobs[5_002].dependencies.push("step-5000");
  const result = validatePipeline({ name: "long", jobs });
  assert.ok(!result.ok);
  assert.deepEqual(result.problems, [{
    job: "step-5000",
    field: "dependencies",
    message: "dependency cycle: step-5000 -> step-5001 -> step-5002 -> step-5000",
  }]);
});

Deno.test("Indexed Job limits: at most 100,000 tasks and parallelism 100,000, named per job", () => {
  const tasks = (n: number) => Array.from({ length: n }, () => ({}));
  assert.equal(MAX_INDEXED_JOB, 100_000);
  assert.ok(
    validatePipeline({
      name: "p",
      jobs: [{ type: "static", tasks: tasks(100_000), parallelism: 100_000 }],
    }).ok,
  );
  const big = validatePipeline({
    name: "p",
    jobs: [{ name: "big", type: "static", tasks: tasks(100_001), parallelism: 100_001 }],
  });
  assert.ok(!big.ok);
  assert.deepEqual(big.problems.map((p) => [p.job, p.field]), [
    ["big", "tasks"],
    ["big", "parallelism"],
  ]);
  assert.match(big.problems[0].message, /at most 100000 tasks per job .*Kubernetes.*found 100001/);
  assert.match(big.problems[1].message, /at most 100000 .*found 100001/);
  const returned = validateDescendants(
    [{ name: "wide", type: "static", parallelism: 200_000 }],
    "parent",
    new Set(),
  );
  assert.ok(!returned.ok);
  assert.deepEqual(returned.problems[0].job, "wide");
});

Deno.test("any YAML loads, flow style included; JSON takes its own parser", () => {
  assert.deepEqual(parseSpec("{name: flow, jobs: []}"), { name: "flow", jobs: [] });
  assert.deepEqual(
    parseSpec("  {name: f, jobs: [{type: static, name: a}]}").jobs.map((j) => j.name),
    ["a"],
  );
  assert.deepEqual(parseSpec('{"name": "json", "jobs": []}'), { name: "json", jobs: [] });
  assert.deepEqual(parseSpec("name: block\njobs: [{type: static}]\n").jobs.length, 1);
  assert.throws(() => parseSpec("{name: [unclosed", "bad.yaml"), (error) => {
    assert.ok(error instanceof SpecError);
    assert.match(error.message, /cannot parse bad\.yaml/);
    return true;
  });
});
