/**
 * Limits a local task meets as a pod would: the job's memory caps a function's heap, and
 * args too large for an environment variable still reach the task.
 */
import assert from "node:assert/strict";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile, stateOf } from "../cli_helpers.ts";

async function runSpec(spec: unknown) {
  const { dir, path } = await specFile(spec);
  const dataDir = `${dir}/kt-data`;
  const result = await ktDeno(
    ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
    dir,
  );
  const state = await stateOf(dataDir, runIdOf(result.stdout));
  return { ...result, dir, dataDir, state };
}

Deno.test("a function task over its job's memory fails with out of memory (limit ...)", async () => {
  const start = Date.now();
  const run = await runSpec({
    name: "greedy",
    jobs: [{ name: "hog", type: "static", memory: "64Mi", tasks: [{ function: "faults.hog" }] }],
  });
  try {
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.state.jobs.hog.status, "Failed");
    assert.match(run.state.jobs.hog.error!, /out of memory \(limit 64Mi\)/);
    console.log(`the run failed ${Date.now() - start} ms after it started`);
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("200 KB of args reach a command task and a function task (KT_JOB_ARGS_FILE)", async () => {
  const big = { blob: "x".repeat(200_000), list: Array.from({ length: 100 }, (_, i) => i) };
  const small = { n: 1 };
  const copyArgs = [
    "sh",
    "-c",
    'if [ -n "$KT_JOB_ARGS_FILE" ]; then cat "$KT_JOB_ARGS_FILE"; else printf %s "$KT_JOB_ARGS"; fi > "$DATA_DIR/$KT_JOB_NAME.json"',
  ];
  const run = await runSpec({
    name: "big-args",
    jobs: [
      { name: "cmd-big", type: "static", tasks: [{ command: copyArgs, args: big }] },
      { name: "cmd-small", type: "static", tasks: [{ command: copyArgs, args: small }] },
      { name: "fn-big", type: "static", tasks: [{ function: "faults.echoArgs", args: big }] },
      { name: "fn-small", type: "static", tasks: [{ function: "faults.echoArgs", args: small }] },
    ],
  });
  try {
    assert.equal(run.code, 0, run.stderr);
    const read = async (name: string) => JSON.parse(await Deno.readTextFile(name));
    assert.deepEqual(await read(`${run.dataDir}/cmd-big.json`), big);
    assert.deepEqual(await read(`${run.dataDir}/cmd-small.json`), small);
    assert.deepEqual(await read(`${run.dataDir}/args/fn-big`), {
      args: big,
      fromEnv: big,
      viaFile: true,
    });
    assert.deepEqual(await read(`${run.dataDir}/args/fn-small`), {
      args: small,
      fromEnv: small,
      viaFile: false,
    });
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});
