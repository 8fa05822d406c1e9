/** The local task environment: the launcher's, with kt-deno's variables over it (README). */
import assert from "node:assert/strict";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile } from "./cli_helpers.ts";

Deno.test("a local task inherits the launcher's environment, kt-deno's variables win", async () => {
  const { dir, path } = await specFile({
    name: "env",
    jobs: [{
      name: "show",
      type: "static",
      tasks: [{
        command: ["sh", "-c", 'echo "mark=$KT_TEST_MARK run=$KT_RUN_ID job=$KT_JOB_NAME"'],
      }],
    }],
  });
  try {
    const result = await ktDeno(["run", path, "--data-dir", "data"], dir, {
      KT_TEST_MARK: "from-the-launcher",
      KT_JOB_NAME: "not-this",
    });
    assert.equal(result.code, 0, result.stderr);
    const runId = runIdOf(result.stdout);
    const log = await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/logs/show/0.log`);
    assert.equal(log, `mark=from-the-launcher run=${runId} job=show\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("what a task sets in its environment is gone for the next task of its worker", async () => {
  const { dir, path } = await specFile({
    name: "sets-env",
    jobs: [{
      name: "sets",
      type: "static",
      parallelism: 1,
      tasks: Array.from({ length: 20 }, () => ({ function: "steps.setsEnv" })),
    }],
  });
  try {
    const result = await ktDeno(
      ["run", path, "--data-dir", "data", "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    assert.equal(result.code, 0, result.stderr);
    for (let index = 0; index < 20; index++) {
      const seen = JSON.parse(await Deno.readTextFile(`${dir}/data/env/${index}`));
      assert.deepEqual(seen, { found: [null, null], index: String(index) }, `task ${index}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
