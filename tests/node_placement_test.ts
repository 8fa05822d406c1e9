import assert from "node:assert/strict";
import { PipelineRun } from "../src/engine/pipeline_run.ts";
import { runSettings } from "../src/k8s/launcher.ts";
import { ktJob } from "../src/k8s/manifests.ts";
import { validatePipeline } from "../src/spec/mod.ts";
import { exists, ktDeno, specFile } from "./cli_helpers.ts";

const gpuPool = {
  name: "train",
  type: "static",
  node_selector: { "cloud.example.com/pool": "gpu", "kubernetes.io/arch": "amd64" },
  tolerations: [
    { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    { key: "spot", value: "true", effect: "NoExecute", tolerationSeconds: 30 },
  ],
  tasks: [{ function: "m.f" }],
};

Deno.test("node_selector and tolerations reach the task pods as Kubernetes spells them", () => {
  const checked = validatePipeline({ name: "p", jobs: [gpuPool] });
  assert.ok(checked.ok, JSON.stringify(!checked.ok && checked.problems));
  const job = PipelineRun.start("ktpr0123abcd", checked.value, new Date()).job("train")!;
  const settings = runSettings({
    runId: "ktpr0123abcd",
    namespace: "default",
    image: "worker:1",
    dataDir: "s3://b/p",
    hostDataPath: null,
  });
  // deno-lint-ignore no-explicit-any
  const pod = (ktJob(settings, job) as any).spec.template.spec;
  assert.deepEqual(pod.nodeSelector, gpuPool.node_selector);
  assert.deepEqual(pod.tolerations, gpuPool.tolerations);
});

Deno.test("a job without placement fields leaves the pod's placement to the cluster", () => {
  const checked = validatePipeline({
    name: "p",
    jobs: [{ name: "a", type: "static", tasks: [{}] }],
  });
  assert.ok(checked.ok);
  assert.equal("node_selector" in checked.value.jobs[0], false);
  const settings = runSettings({
    runId: "ktpr0123abcd",
    namespace: "default",
    image: "worker:1",
    dataDir: "s3://b/p",
    hostDataPath: null,
  });
  const job = PipelineRun.start("ktpr0123abcd", checked.value, new Date()).job("a")!;
  // deno-lint-ignore no-explicit-any
  const pod = (ktJob(settings, job) as any).spec.template.spec;
  assert.equal(pod.nodeSelector, undefined);
  assert.equal(pod.tolerations, undefined);
});

Deno.test("bad placement fields are named, one problem each", () => {
  const checked = validatePipeline({
    name: "p",
    jobs: [{
      name: "a",
      type: "static",
      node_selector: { "bad key!": "x", pool: "not a value" },
      tolerations: [
        { key: "k", operator: "Exists", value: "v" },
        { operator: "Equal", value: "v" },
        { key: "k", effect: "NoSchedule", tolerationSeconds: 5 },
        { key: "k", effect: "Sometimes" },
      ],
    }],
  });
  assert.ok(!checked.ok);
  const messages = checked.problems.map((p) => `${p.field}: ${p.message}`);
  assert.ok(messages.some((m) => m.includes('invalid label key "bad key!"')), messages.join("\n"));
  assert.ok(messages.some((m) => m.includes('invalid label value "not a value"')));
  assert.ok(messages.some((m) => m.includes("operator Exists takes no value")));
  assert.ok(messages.some((m) => m.includes("without a key needs operator Exists")));
  assert.ok(messages.some((m) => m.includes("tolerationSeconds needs effect NoExecute")));
  assert.ok(messages.some((m) => m.startsWith("tolerations[3].effect")));
});

Deno.test("kt-deno run refuses a bad toleration: exit 2, nothing written", async () => {
  const { dir, path } = await specFile({
    name: "p",
    jobs: [{ name: "a", type: "static", tolerations: [{ key: "k", effect: "Never" }] }],
  });
  try {
    const result = await ktDeno(["run", path, "--data-dir", `${dir}/data`], dir);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /tolerations\[0\]\.effect/);
    assert.equal(await exists(`${dir}/data`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("placement fields are ignored by a local run", async () => {
  const { dir, path } = await specFile({ name: "p", jobs: [gpuPool] });
  try {
    const functions = `${dir}/fns`;
    await Deno.mkdir(functions);
    await Deno.writeTextFile(`${functions}/m.ts`, "export function f() {}\n");
    const result = await ktDeno(
      ["run", path, "--data-dir", `${dir}/data`, "--functions", functions],
      dir,
    );
    assert.equal(result.code, 0, result.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
