/**
 * Pipelines whose data dir is in S3 (a real MinIO server): run locally, and on the test
 * cluster's real node with the controller and the pods reading and writing the bucket
 * (a second MinIO that listens on the node IP, where pods reach it).
 */
import assert from "node:assert/strict";
import type { StateDocument } from "../src/engine/state.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { applyRbac, clusterSuite } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { type Minio, startMinio } from "./minio/harness.ts";
import { freePort } from "./ports.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/hello-world`;
const settings = { sanitizeOps: false, sanitizeResources: false };

let minio: Promise<Minio> | undefined;
const server = () => minio ??= startMinio();
let podMinio: Promise<Minio> | undefined;
const temporary: string[] = [];

/** The bucket, seen through the same driver kt-deno uses, with the server's credentials. */
async function bucketFs(prefix: string, s?: Minio): Promise<DataFs> {
  s ??= await server();
  for (const [key, value] of Object.entries(s.env)) Deno.env.set(key, value);
  return new DataFs(new S3Driver(`s3://${s.bucket}/${prefix}`));
}

async function seedHello(fs: DataFs): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${EXAMPLE}/data/input`)) {
    await fs.write(
      `input/${entry.name}`,
      await Deno.readTextFile(`${EXAMPLE}/data/input/${entry.name}`),
    );
    names.push(entry.name);
  }
  return names.sort();
}

async function assertHelloOutputs(fs: DataFs, names: string[], runId: string) {
  assert.deepEqual(await fs.listdir("output"), names);
  for (const name of names) {
    const input = await fs.read(`input/${name}`);
    const expected = input.trimEnd().split("\n").map((l) => `Hello World: ${l}`).join("\n") + "\n";
    assert.equal(await fs.read(`output/${name}`), expected);
  }
  const state = await fs.readJson<StateDocument>(`kt-metadata/${runId}/pipeline_run_state.json`);
  assert.equal(state.status, "Completed");
  for (const job of Object.values(state.jobs)) assert.equal(job.status, "Completed", job.name);
}

Deno.test({
  name: "hello-world runs locally on an s3:// data dir",
  ...settings,
  fn: async () => {
    const s = await server();
    const fs = await bucketFs("local-hello");
    const names = await seedHello(fs);
    const { dir } = await specFile({});
    temporary.push(dir);
    const result = await ktDeno(
      [
        "run",
        `${EXAMPLE}/pipeline.yaml`,
        "--functions",
        `${EXAMPLE}/kt_functions`,
        "--data-dir",
        `s3://${s.bucket}/local-hello`,
        "--s3-endpoint",
        s.endpoint,
        "--s3-path-style",
      ],
      dir,
      {
        AWS_ACCESS_KEY_ID: s.accessKey,
        AWS_SECRET_ACCESS_KEY: s.secretKey,
        AWS_REGION: "us-east-1",
      },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    await assertHelloOutputs(fs, names, runIdOf(result.stdout));
    const status = await ktDeno(
      [
        "status",
        runIdOf(result.stdout),
        "--data-dir",
        `s3://${s.bucket}/local-hello`,
        "-o",
        "json",
      ],
      dir,
      s.env,
    );
    assert.equal(JSON.parse(status.stdout).status, "Completed");
  },
});

Deno.test({
  name: "a task's S3 error fails that task with the S3 error code",
  ...settings,
  fn: async () => {
    const s = await server();
    const { dir, path } = await specFile({
      name: "s3-error",
      jobs: [{ name: "reader", type: "static", tasks: [{ function: "steps.readMissing" }] }],
    });
    temporary.push(dir);
    const result = await ktDeno(
      ["run", path, "--functions", FIXTURE_FUNCTIONS, "--data-dir", `s3://${s.bucket}/errors`],
      dir,
      s.env,
    );
    assert.equal(result.code, 1);
    const fs = await bucketFs("errors");
    const state = await fs.readJson<StateDocument>(
      `kt-metadata/${runIdOf(result.stdout)}/pipeline_run_state.json`,
    );
    assert.match(
      state.jobs.reader.error!,
      /no such file in data dir s3:\/\/kt-test\/errors: no\/such\/file\.txt \(S3 NoSuchKey\)/,
    );
  },
});

Deno.test({
  name:
    "a missing bucket, bad credentials or an unreachable endpoint stop the run before it starts",
  ...settings,
  fn: async () => {
    const s = await server();
    const { dir, path } = await specFile({
      name: "p",
      jobs: [{ type: "static", tasks: [{ function: "steps.noop" }] }],
    });
    temporary.push(dir);
    const run = (dataDir: string, env: Record<string, string>) =>
      ktDeno(["run", path, "--functions", FIXTURE_FUNCTIONS, "--data-dir", dataDir], dir, env);
    const missing = await run("s3://no-such-bucket/x", s.env);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /data dir s3:\/\/no-such-bucket\/x cannot be used: S3 NoSuchBucket .*does not exist/,
    );
    const badKey = await run(`s3://${s.bucket}/x`, { ...s.env, AWS_SECRET_ACCESS_KEY: "wrong" });
    assert.equal(badKey.code, 2);
    assert.match(
      badKey.stderr,
      /S3 SignatureDoesNotMatch for s3:\/\/kt-test\/x: the credentials were refused/,
    );
    const port = freePort();
    const unreachable = await run(`s3://${s.bucket}/x`, {
      ...s.env,
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
    });
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /for s3:\/\/kt-test\/x: the endpoint cannot be reached/);
    for (const result of [missing, badKey, unreachable]) {
      assert.equal(result.stdout, "", "no run id: nothing ran");
    }
    assert.deepEqual(await (await bucketFs("")).glob("x/**"), [], "nothing was written");
  },
});

// On the cluster: the controller and the pods talk to MinIO on the node IP.
const FUNCTIONS_IMAGE = await testImage("hello", [`${EXAMPLE}/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

suite.test("hello-world on the cluster with an s3:// data dir: no host path, outputs in the bucket", async ({ cluster, kube }) => {
  const s = await (podMinio = startMinio("kt-test", cluster.nodeIp));
  await applyRbac(kube);
  await kube.request("POST", "/api/v1/namespaces/default/secrets", {
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "minio-credentials" },
      stringData: { AWS_ACCESS_KEY_ID: s.accessKey, AWS_SECRET_ACCESS_KEY: s.secretKey },
    },
  });
  const fs = await bucketFs("cluster-hello", s);
  const names = await seedHello(fs);
  const { dir } = await specFile({});
  temporary.push(dir);
  const result = await ktDeno(
    [
      "run",
      `${EXAMPLE}/pipeline.yaml`,
      "--image",
      IMAGE,
      "--controller-image",
      IMAGE,
      "--data-dir",
      `s3://${s.bucket}/cluster-hello`,
      "--s3-endpoint",
      s.endpoint,
      "--s3-path-style",
      "--secret-env",
      "minio-credentials",
      "--wait",
    ],
    dir,
    {
      KUBECONFIG: cluster.kubeconfigPath,
      AWS_ACCESS_KEY_ID: s.accessKey,
      AWS_SECRET_ACCESS_KEY: s.secretKey,
    },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  await assertHelloOutputs(fs, names, runId);
  // deno-lint-ignore no-explicit-any
  const jobs = await kube.request<any>("GET", "/apis/batch/v1/namespaces/default/jobs", {
    query: { labelSelector: `kt-deno.dev/run-id=${runId}` },
  });
  for (const job of jobs.items) {
    const pod = job.spec.template.spec;
    assert.deepEqual(
      pod.volumes?.filter((v: { hostPath?: unknown }) => v.hostPath) ?? [],
      [],
      job.metadata.name,
    );
    assert.deepEqual(pod.containers[0].envFrom, [{ secretRef: { name: "minio-credentials" } }]);
    const env = Object.fromEntries(
      pod.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    assert.equal(env.AWS_ENDPOINT_URL_S3, s.endpoint);
    assert.equal(env.KT_S3_FORCE_PATH_STYLE, "true");
    assert.equal(env.AWS_SECRET_ACCESS_KEY, undefined, "no credentials in the Job spec");
  }
});

suite.end();

Deno.test({
  name: "(MinIO stops, temporary folders removed)",
  ...settings,
  fn: async () => {
    for (const started of [minio, podMinio]) await (await started?.catch(() => undefined))?.stop();
    for (const dir of temporary) await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
});
