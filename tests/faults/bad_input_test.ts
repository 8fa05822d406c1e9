/**
 * Input a careless or hostile user gives: random bytes as a spec print as text, and two
 * runs in one data dir at once both complete.
 */
import assert from "node:assert/strict";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile, stateOf } from "../cli_helpers.ts";
import { exists } from "../cli_helpers.ts";

/** Bytes from a fixed seed (xorshift32), so a failure can be replayed. */
function randomBytes(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

Deno.test("random bytes as a spec: exit 2, a printable error, nothing written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-faults-" });
  try {
    // A line the YAML parser quotes back in its error, with ESC, NUL and BEL on it.
    const crafted = new TextEncoder().encode("name: x\njobs: [\x1b[2J\x00\x07 #\x01oops\n");
    const specs = [crafted, ...[1, 2, 3, 4, 5, 6].map((seed) => randomBytes(seed, 2000))];
    for (const [i, bytes] of specs.entries()) {
      await Deno.writeFile(`${dir}/spec${i}.yaml`, bytes);
      for (const command of ["validate", "run"]) {
        const result = await ktDeno(
          [command, `spec${i}.yaml`, "--data-dir", `${dir}/data`].slice(
            0,
            command === "run" ? 4 : 2,
          ),
          dir,
        );
        assert.equal(result.code, 2, `${command} spec${i}.yaml: ${result.stderr}`);
        assert.match(result.stderr, /^kt-deno: /);
        assert.doesNotMatch(result.stdout + result.stderr, UNPRINTABLE, `spec${i}.yaml`);
      }
    }
    const echoed = await ktDeno(["validate", "spec0.yaml"], dir);
    assert.match(echoed.stderr, /jobs: \[\\x1b\[2J\\x00\\x07 #\\x01oops/);
    assert.equal(await exists(`${dir}/data`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two local runs in one data dir at once both complete", async () => {
  const { dir, path } = await specFile({
    name: "twice",
    jobs: [
      {
        name: "a",
        type: "static",
        tasks: Array.from({ length: 4 }, (_, i) => ({
          function: "steps.sleep",
          args: { ms: 200, name: String(i) },
        })),
      },
      { name: "b", type: "static", dependencies: ["a"], tasks: [{ command: ["true"] }] },
    ],
  });
  const dataDir = `${dir}/kt-data`;
  try {
    const args = ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS];
    const runs = await Promise.all([ktDeno(args, dir), ktDeno(args, dir)]);
    const ids = runs.map((run) => runIdOf(run.stdout));
    assert.notEqual(ids[0], ids[1]);
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await stateOf(dataDir, ids[i])).status, "Completed");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a KT_STORAGE_RETRY_SECONDS that is not a number of seconds: exit 2, nothing written", async () => {
  const { dir, path } = await specFile({ name: "x", jobs: [] });
  try {
    const result = await ktDeno(
      ["run", path, "--data-dir", `${dir}/kt-data`],
      dir,
      { KT_STORAGE_RETRY_SECONDS: "a minute" },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /KT_STORAGE_RETRY_SECONDS must be a number of seconds \(0 or more\), got "a minute"/,
    );
    assert.equal(await exists(`${dir}/kt-data`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
