import assert from "node:assert/strict";
import { copy } from "./copy.ts";
import { ktDeno, runIdOf, stateOf } from "./cli_helpers.ts";

const EXAMPLE = new URL("../examples/kube-transform-hello", import.meta.url).pathname;

Deno.test("kube-transform-hello: Python kt_functions with kube_transform.fsutil, run as the README says", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-kt-hello-" });
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
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const inputs = [...Deno.readDirSync(`${dir}/data/input`)].map((e) => e.name).sort();
    const outputs = [...Deno.readDirSync(`${dir}/data/output`)].map((e) => e.name).sort();
    assert.ok(inputs.length >= 3);
    assert.deepEqual(outputs, inputs);
    for (const name of inputs) {
      const input = await Deno.readTextFile(`${dir}/data/input/${name}`);
      const expected = input.trimEnd().split("\n").map((line) => `Hello World: ${line}\n`).join(
        "",
      );
      assert.equal(await Deno.readTextFile(`${dir}/data/output/${name}`), expected);
    }
    const state = await stateOf(`${dir}/data`, runIdOf(result.stdout));
    assert.equal(state.status, "Completed");
    assert.deepEqual(Object.keys(state.jobs), ["plan", "greet"]);
    assert.equal(state.jobs.greet.tasks?.length, inputs.length);
    assert.match(result.stderr, /plan\[0\] INFO:kt_functions\.hello:planning 3 files/);
    assert.match(result.stderr, /greet\[\d\] greeted input\/greek\.txt into output\/greek\.txt/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
