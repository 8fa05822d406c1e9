import assert from "node:assert/strict";
import { copy } from "./copy.ts";
import { ktDeno, runIdOf, stateOf } from "./cli_helpers.ts";

const EXAMPLE = new URL("../examples/hello-world", import.meta.url).pathname;

Deno.test("hello-world writes one output per input, each line prefixed, all jobs Completed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-hello-" });
  try {
    await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
    const result = await ktDeno([
      "run",
      `${EXAMPLE}/pipeline.yaml`,
      "--functions",
      `${EXAMPLE}/kt_functions`,
      "--data-dir",
      `${dir}/data`,
    ], dir);
    assert.equal(result.code, 0, result.stderr);
    const inputs = [...Deno.readDirSync(`${dir}/data/input`)].map((e) => e.name).sort();
    const outputs = [...Deno.readDirSync(`${dir}/data/output`)].map((e) => e.name).sort();
    assert.deepEqual(outputs, inputs);
    assert.ok(inputs.length >= 3);
    for (const name of inputs) {
      const input = await Deno.readTextFile(`${dir}/data/input/${name}`);
      const expected = input.trimEnd().split("\n").map((line) =>
        `Hello World: ${line}`
      ).join("\n") + "\n";
      assert.equal(await Deno.readTextFile(`${dir}/data/output/${name}`), expected);
    }
    const state = await stateOf(`${dir}/data`, runIdOf(result.stdout));
    assert.equal(state.status, "Completed");
    assert.deepEqual(Object.keys(state.jobs), ["plan", "prepend"]);
    for (const job of Object.values(state.jobs)) assert.equal(job.status, "Completed");
    assert.equal(state.jobs.prepend.tasks?.length, inputs.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
