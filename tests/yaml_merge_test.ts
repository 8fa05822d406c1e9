import assert from "node:assert/strict";
import { parseSpec } from "../src/spec/parse_spec.ts";
import { ktDeno } from "./cli_helpers.ts";

const MERGED = `name: merged
jobs:
  - &base
    name: first
    type: static
    memory: 2Gi
    tasks: [{command: ["true"]}]
  - <<: *base
    name: second
    dependencies: [first]
`;

Deno.test("YAML merge keys (<<: *anchor) fill a job from another, as PyYAML does", () => {
  const pipeline = parseSpec(MERGED, "merged.yaml");
  assert.deepEqual(pipeline.jobs.map((job) => [job.name, job.memory, job.dependencies]), [
    ["first", "2Gi", []],
    ["second", "2Gi", ["first"]],
  ]);
  assert.deepEqual(pipeline.jobs[1].tasks, [{ command: ["true"], args: {} }]);
});

Deno.test("kt-deno validate takes a spec with merge keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-merge-" });
  try {
    await Deno.writeTextFile(`${dir}/p.yaml`, MERGED);
    const result = await ktDeno(["validate", "p.yaml"], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid pipeline "merged", 2 jobs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
