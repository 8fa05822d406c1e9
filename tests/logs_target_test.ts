import assert from "node:assert/strict";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";

Deno.test("logs of a job or task that is not in the run is exit 2 naming what is", async () => {
  const { dir, path } = await specFile({
    name: "p",
    jobs: [
      { name: "one", type: "static", tasks: [{ command: ["echo", "hi"] }] },
      { name: "three", type: "static", tasks: [0, 1, 2].map(() => ({ command: ["true"] })) },
      { name: "none", type: "static" },
    ],
  });
  try {
    const run = await ktDeno(["run", path, "--data-dir", "data"], dir);
    assert.equal(run.code, 0, run.stderr);
    const runId = runIdOf(run.stdout);
    const logs = (target: string) => ktDeno(["logs", runId, target, "--data-dir", "data"], dir);
    const seven = await logs("one/7");
    assert.equal(seven.code, 2);
    assert.match(seven.stderr, /no task 7 in job one of run ktpr\w+; its tasks: 0\n/);
    assert.match((await logs("three/3")).stderr, /its tasks: 0 to 2/);
    assert.match((await logs("none/0")).stderr, /its tasks: none/);
    const missing = await logs("nope");
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no job nope in run ktpr\w+; its jobs: one, three, none/);
    const quiet = await logs("three/1");
    assert.equal(quiet.code, 0);
    assert.match(quiet.stderr, /three\[1\] has no output/);
    const one = await logs("one/0");
    assert.equal(one.code, 0);
    assert.equal(one.stdout, "one[0] hi\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
