/**
 * examples/pandas-etl on the test cluster's real node, its code unchanged: a worker image
 * with pandas and pyarrow from PyPI (the README's recipe: `FROM kt-deno-worker`, Debian's
 * `python3-pip`, `pip install`), `kt-deno run --image ... --wait` on an `s3://` data dir
 * (MinIO on the node IP, where pods reach it), under the default memory and under
 * `memory: 256Mi` (the pods' limits).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import type { StateDocument } from "../src/engine/state.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { applyRbac, type ClusterContext, clusterSuite } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { type Minio, startMinio } from "./minio/harness.ts";
import { PANDAS_STACK } from "./pandas_venv.ts";

const EXAMPLE = new URL("../examples/pandas-etl", import.meta.url).pathname;
const PANDAS_IMAGE = await testImage("pandas", [`${EXAMPLE}/kt_functions`], {
  pip: PANDAS_STACK,
});
const IMAGE = PANDAS_IMAGE.ref;

const SUMMARY = [
  "region,orders,total_cents",
  "east,3,3625",
  "north,1,1250",
  "south,2,1725",
  "west,2,2880",
  "",
].join("\n");

const temporary: string[] = [];
let podMinio: Promise<Minio> | undefined;

/** MinIO on the node IP and its credentials as a Secret for the pods, made once. */
function minio({ cluster, kube }: ClusterContext): Promise<Minio> {
  return podMinio ??= (async () => {
    const s = await startMinio("kt-test", cluster.nodeIp);
    await applyRbac(kube);
    await kube.request("POST", "/api/v1/namespaces/default/secrets", {
      body: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "minio-credentials" },
        stringData: { AWS_ACCESS_KEY_ID: s.accessKey, AWS_SECRET_ACCESS_KEY: s.secretKey },
      },
    });
    return s;
  })();
}

const suite = clusterSuite({ images: [PANDAS_IMAGE] });

for (const memory of [undefined, "256Mi"]) {
  suite.test(`pandas-etl on the cluster, unchanged, on an s3:// data dir under ${memory ?? "the default memory"}`, async (context) => {
    const s = await minio(context);
    for (const [key, value] of Object.entries(s.env)) Deno.env.set(key, value);
    const prefix = `pandas-etl-${memory ?? "default"}`;
    const fs = new DataFs(new S3Driver(`s3://${s.bucket}/${prefix}`));
    for await (const entry of Deno.readDir(`${EXAMPLE}/data/input`)) {
      await fs.writeBytes(
        `input/${entry.name}`,
        await Deno.readFile(`${EXAMPLE}/data/input/${entry.name}`),
      );
    }
    const spec = parse(await Deno.readTextFile(`${EXAMPLE}/pipeline.yaml`));
    if (memory) {
      for (const job of spec.jobs) job.memory = memory;
      spec.jobs[0].args.memory = memory;
    }
    const { dir, path } = await specFile(spec);
    temporary.push(dir);
    const result = await ktDeno(
      [
        "run",
        path,
        "--image",
        IMAGE,
        "--data-dir",
        `s3://${s.bucket}/${prefix}`,
        "--s3-endpoint",
        s.endpoint,
        "--s3-path-style",
        "--secret-env",
        "minio-credentials",
        "--wait",
      ],
      dir,
      { ...s.env, KUBECONFIG: context.cluster.kubeconfigPath },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const runId = runIdOf(result.stdout);
    const state = await fs.readJson<StateDocument>(
      `kt-metadata/${runId}/pipeline_run_state.json`,
    );
    assert.equal(state.status, "Completed");
    assert.deepEqual(Object.keys(state.jobs), ["plan", "summarize", "clean"]);
    assert.equal(state.jobs.clean.tasks?.length, 3, "notes.txt is not a table");
    assert.deepEqual(await fs.listdir("cleaned"), [
      "2026-01.parquet",
      "2026-02.parquet",
      "2026-03.parquet",
    ]);
    assert.equal(await fs.read("summary/by_region.csv"), SUMMARY);
    // the clean tasks' pods asked for the job's memory (their limit is made from it)
    // deno-lint-ignore no-explicit-any
    const jobs = await context.kube.request<any>("GET", "/apis/batch/v1/namespaces/default/jobs", {
      query: { labelSelector: `kt-deno.dev/run-id=${runId},kt-deno.dev/job=clean` },
    });
    assert.ok(jobs.items.length > 0, "a Job ran the clean tasks");
    for (const job of jobs.items) {
      const resources = job.spec.template.spec.containers[0].resources;
      assert.equal(resources.requests.memory, memory ?? "1Gi", job.metadata.name);
    }
  });
}

suite.end();

Deno.test({
  name: "(MinIO stops, temporary folders removed)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await (await podMinio?.catch(() => undefined))?.stop();
    for (const dir of temporary) await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
});
