/**
 * Python task functions on the test cluster's real node, end to end: a worker image built
 * from the Dockerfile (python3 in it) with the README's recipe and Python `kt_functions`
 * (the kube-transform-hello example and the Python fixtures), where kube-transform is not
 * installed, so `kube_transform.fsutil` is kt-deno's. A dynamic Python job, static Python
 * tasks, an exception, and `kt-deno logs` afterwards.
 */
import assert from "node:assert/strict";
import type { StateDocument } from "../src/engine/state.ts";
import { ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { copy } from "./copy.ts";
import { applyRbac, clusterSuite, runPod, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/kube-transform-hello`;
const PY_FIXTURES = `${ROOT}tests/fixtures/py_functions`;
const FUNCTIONS_IMAGE = await testImage("python", [`${EXAMPLE}/kt_functions`, PY_FIXTURES]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const IMAGES = ["--image", IMAGE, "--controller-image", IMAGE];
const NS = "default";

/** Folders the tests make, removed at the end. */
const temporary: string[] = [];

const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

function statuses(state: StateDocument): Record<string, string> {
  return Object.fromEntries(Object.values(state.jobs).map((job) => [job.name, job.status]));
}

suite.test("the worker image has python3, 3.9 or newer, without kube-transform", async (context) => {
  const result = await runPod(context, {
    metadata: { name: "python-probe" },
    spec: {
      containers: [{
        name: "main",
        image: IMAGE,
        command: [
          "python3",
          "-c",
          "import importlib.util, sys; print(sys.version_info >= (3, 9), importlib.util.find_spec('kube_transform'))",
        ],
      }],
    },
  });
  assert.equal(result.exitCode, 0, result.log);
  assert.equal(result.log.trim(), "True None");
});

suite.test("kube-transform-hello on the cluster: a dynamic Python job, static Python tasks, logs", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const dir = await Deno.makeTempDir({ prefix: "kt-python-hello-" });
  temporary.push(dir);
  await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
  await writableByPods(`${dir}/data`);
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  const result = await ktDeno(
    ["run", `${EXAMPLE}/pipeline.yaml`, ...IMAGES, "--data-dir", `${dir}/data`, "--wait"],
    dir,
    env,
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  for (const name of ["greek.txt", "numbers.txt", "name.txt"]) {
    const input = await Deno.readTextFile(`${dir}/data/input/${name}`);
    const expected = input.trimEnd().split("\n").map((l) => `Hello World: ${l}\n`).join("");
    assert.equal(await Deno.readTextFile(`${dir}/data/output/${name}`), expected);
  }
  const state = await stateOf(`${dir}/data`, runId);
  assert.deepEqual(statuses(state), { plan: "Completed", greet: "Completed" });
  assert.equal(state.jobs.greet.parent_job, "plan");
  assert.equal(state.jobs.greet.tasks?.length, 3);

  const logs = await ktDeno(["logs", runId, "--data-dir", `${dir}/data`], dir, env);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /^plan\[0\] INFO:kt_functions\.hello:planning 3 files$/m);
  for (const name of ["greek.txt", "numbers.txt", "name.txt"]) {
    assert.match(
      logs.stdout,
      new RegExp(`^greet\\[\\d\\] greeted input/${name} into output/${name}$`, "m"),
    );
  }
});

suite.test("a Python exception fails its task with Python's error line; logs show the traceback", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile({
    name: "python-failure",
    jobs: [
      {
        name: "parse",
        type: "static",
        tasks: [{ function: "steps.noop" }, { function: "steps.parse", args: { row: 17 } }],
      },
      {
        name: "after",
        type: "static",
        dependencies: ["parse"],
        tasks: [{ function: "steps.noop" }],
      },
    ],
  });
  temporary.push(dir);
  await Deno.mkdir(`${dir}/data`);
  await writableByPods(`${dir}/data`);
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  const result = await ktDeno(
    ["run", path, ...IMAGES, "--data-dir", `${dir}/data`, "--wait"],
    dir,
    env,
  );
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  const state = await stateOf(`${dir}/data`, runId);
  assert.deepEqual(statuses(state), { parse: "Failed", after: "SkippedDueToUpstreamFailure" });
  assert.equal(
    state.jobs.parse.error,
    "1 of 2 tasks failed: task 1: ValueError: cannot parse row 17",
  );

  const logs = await ktDeno(["logs", runId, "parse/1", "--data-dir", `${dir}/data`], dir, env);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /parsing up to row 17/);
  assert.match(logs.stdout, /Traceback \(most recent call last\):/);
  assert.match(logs.stdout, /File "\/app\/kt_functions\/steps\.py", line \d+, in parse/);
  assert.match(logs.stdout, /ValueError: cannot parse row 17/);
});

suite.end();

Deno.test("(temporary folders removed)", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true });
});
