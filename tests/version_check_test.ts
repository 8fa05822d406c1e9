/**
 * The version check, where it matters: in pods of the worker image (built from the
 * Dockerfile) on the test cluster's real node, as a task and as the controller.
 */
import assert from "node:assert/strict";
import { VERSION } from "../src/version.ts";
import { FIXTURE_FUNCTIONS, ktDeno } from "./cli_helpers.ts";
import { clusterSuite, writableByPods } from "./cluster/harness.ts";
import { runPod } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";

const FUNCTIONS_IMAGE = await testImage("fixtures", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

/** A pod of the worker image running `kt-deno ARGS` with `dir` mounted at /data. */
function ktDenoPod(name: string, dir: string, args: string[], env: Record<string, string>) {
  return {
    metadata: { name },
    spec: {
      containers: [{
        name: "main",
        image: IMAGE,
        args,
        env: Object.entries(env).map(([name, value]) => ({ name, value })),
        volumeMounts: [{ name: "data", mountPath: "/data" }],
      }],
      volumes: [{ name: "data", hostPath: { path: dir, type: "Directory" } }],
    },
  };
}

suite.test("a task pod of another kt-deno version refuses to run, naming both versions", async (context) => {
  const dir = await Deno.makeTempDir({ prefix: "kt-version-" });
  try {
    await Deno.mkdir(`${dir}/kt-metadata/ktpr00000001/tasks/job`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/kt-metadata/ktpr00000001/tasks/job/chunk-0.json`,
      JSON.stringify([{ kind: "static", command: ["touch", "/data/ran"], args: {} }]),
    );
    await writableByPods(dir);
    const env = {
      KT_RUN_ID: "ktpr00000001",
      KT_JOB_NAME: "job",
      JOB_COMPLETION_INDEX: "0",
      DATA_DIR: "/data",
    };
    const other = await runPod(
      context,
      ktDenoPod("other-version", dir, ["task"], { ...env, KT_VERSION: "0.0.1-other" }),
    );
    assert.equal(other.exitCode, 2, other.log);
    const message =
      `kt-deno version mismatch: the run was launched by kt-deno 0.0.1-other, but this image has kt-deno ${VERSION}`;
    assert.ok(other.log.includes(message), other.log);
    assert.ok(
      (await Deno.readTextFile(`${dir}/kt-metadata/ktpr00000001/task_errors/job/0.txt`)).includes(
        message,
      ),
      "the controller can report why",
    );
    await assert.rejects(() => Deno.stat(`${dir}/ran`));
    const same = await runPod(
      context,
      ktDenoPod("same-version", dir, ["task"], { ...env, KT_VERSION: VERSION }),
    );
    assert.equal(same.exitCode, 0, same.log);
    assert.ok((await Deno.stat(`${dir}/ran`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

suite.test("a controller of another kt-deno version refuses the run, naming both versions", async (context) => {
  const dir = await Deno.makeTempDir({ prefix: "kt-version-" });
  try {
    const result = await runPod(
      context,
      ktDenoPod("other-controller", dir, ["controller"], {
        KT_RUN_SETTINGS: JSON.stringify({ runId: "ktpr00000001", version: "0.0.1-other" }),
      }),
    );
    assert.equal(result.exitCode, 2, result.log);
    assert.match(
      result.log,
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

suite.test("a task pod without its environment says what is missing", async (context) => {
  const dir = await Deno.makeTempDir({ prefix: "kt-version-" });
  try {
    await writableByPods(dir);
    const result = await runPod(context, ktDenoPod("no-env", dir, ["task"], { KT_RUN_ID: "" }));
    assert.equal(result.exitCode, 2, result.log);
    assert.match(result.log, /kt-deno task: KT_RUN_ID is not set in the pod/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

suite.end();
