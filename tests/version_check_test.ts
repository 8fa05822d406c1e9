import assert from "node:assert/strict";
import { VERSION } from "../src/version.ts";
import { ktDeno } from "./cli_helpers.ts";

Deno.test("a task pod of another kt-deno version refuses to run, naming both versions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-version-" });
  try {
    await Deno.mkdir(`${dir}/kt-metadata/ktpr00000001/tasks/job`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/kt-metadata/ktpr00000001/tasks/job/chunk-0.json`,
      JSON.stringify([{ kind: "static", command: ["touch", `${dir}/ran`], args: {} }]),
    );
    const env = {
      KT_RUN_ID: "ktpr00000001",
      KT_JOB_NAME: "job",
      JOB_COMPLETION_INDEX: "0",
      DATA_DIR: dir,
    };
    const other = await ktDeno(["task"], dir, { ...env, KT_VERSION: "0.0.1-other" });
    assert.equal(other.code, 2);
    const message =
      `kt-deno version mismatch: the run was launched by kt-deno 0.0.1-other, but this image has kt-deno ${VERSION}`;
    assert.ok(other.stderr.includes(message), other.stderr);
    assert.ok(
      (await Deno.readTextFile(`${dir}/kt-metadata/ktpr00000001/task_errors/job/0.txt`)).includes(
        message,
      ),
      "the controller can report why",
    );
    await assert.rejects(() => Deno.stat(`${dir}/ran`));
    const same = await ktDeno(["task"], dir, { ...env, KT_VERSION: VERSION });
    assert.equal(same.code, 0, same.stderr);
    assert.ok((await Deno.stat(`${dir}/ran`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a controller of another kt-deno version refuses the run, naming both versions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-version-" });
  try {
    const result = await ktDeno(["controller"], dir, {
      KT_RUN_SETTINGS: JSON.stringify({ runId: "ktpr00000001", version: "0.0.1-other" }),
    });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      new RegExp(
        `the run was launched by kt-deno 0\\.0\\.1-other, but this controller image has kt-deno ${
          VERSION.replaceAll(".", "\\.")
        }`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a controller with missing or broken settings exits 2 and says what is wrong", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-version-" });
  try {
    const none = await ktDeno(["controller"], dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /KT_RUN_SETTINGS is not set/);
    const broken = await ktDeno(["controller"], dir, { KT_RUN_SETTINGS: "{runId" });
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /KT_RUN_SETTINGS is not JSON/);
    const partial = await ktDeno(["controller"], dir, {
      KT_RUN_SETTINGS: JSON.stringify({ runId: "ktpr00000001", version: VERSION }),
    });
    assert.equal(partial.code, 2);
    assert.match(partial.stderr, /KT_RUN_SETTINGS lacks namespace, image, dataDir/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a task pod without its environment says what is missing", async () => {
  const result = await ktDeno(["task"], Deno.cwd(), { KT_RUN_ID: "" });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /kt-deno task: KT_RUN_ID is not set in the pod/);
});
