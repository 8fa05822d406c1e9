/**
 * examples/pandas-etl, with pandas and pyarrow in a virtualenv named by KT_PYTHON: run by
 * `kt-deno run` as its README says, and started from Python with `run_pipeline`; its code
 * unchanged under `memory: 256Mi` and on an `s3://` data dir (a real MinIO server).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import type { StateDocument } from "../src/engine/state.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { copy } from "./copy.ts";
import { ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { type Minio, startMinio } from "./minio/harness.ts";
import { pandasPython } from "./pandas_venv.ts";

const EXAMPLE = new URL("../examples/pandas-etl", import.meta.url).pathname;

const SUMMARY = [
  "region,orders,total_cents",
  "east,3,3625",
  "north,1,1250",
  "south,2,1725",
  "west,2,2880",
  "",
].join("\n");

Deno.test("pandas-etl: one pandas task per CSV or parquet file, then a summary, as the README says", async () => {
  const python = await pandasPython();
  const dir = await Deno.makeTempDir({ prefix: "kt-pandas-etl-" });
  try {
    await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
    const result = await ktDeno(
      [
        "run",
        `${EXAMPLE}/pipeline.yaml`,
        "--functions",
        `${EXAMPLE}/kt_functions`,
        "--data-dir",
        `${dir}/data`,
      ],
      dir,
      { KT_PYTHON: python },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const state = await stateOf(`${dir}/data`, runIdOf(result.stdout));
    assert.deepEqual(Object.keys(state.jobs), ["plan", "summarize", "clean"]);
    assert.equal(state.jobs.clean.tasks?.length, 3, "notes.txt is not a table");
    const cleaned = [...Deno.readDirSync(`${dir}/data/cleaned`)].map((e) => e.name).sort();
    assert.deepEqual(cleaned, ["2026-01.parquet", "2026-02.parquet", "2026-03.parquet"]);
    assert.equal(await Deno.readTextFile(`${dir}/data/summary/by_region.csv`), SUMMARY);
    assert.match(result.stderr, /clean\[2\] input\/2026-03\.parquet: kept 2 of 3 rows/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pandas-etl: a notebook's run_pipeline(spec, None, data_dir, wait=True) completes", async () => {
  const python = await pandasPython();
  const dir = await Deno.makeTempDir({ prefix: "kt-pandas-nb-" });
  try {
    await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
    const path = await ktDeno(["python", "path"], dir);
    assert.equal(path.code, 0, path.stderr);
    const notebook = [
      "from kube_transform import run_pipeline",
      `run = run_pipeline(${JSON.stringify(`${EXAMPLE}/pipeline.yaml`)}, None, "data",`,
      `                   wait=True, functions=${JSON.stringify(`${EXAMPLE}/kt_functions`)})`,
      "print(run.status())",
      "print(run.logs('summarize'), end='')",
    ].join("\n");
    const out = await new Deno.Command(python, {
      args: ["-c", notebook],
      cwd: dir,
      env: { PYTHONPATH: path.stdout.trim() },
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    assert.match(stdout, /^Completed\n/);
    assert.match(stdout, /summarize\[0\]\s+east\s+3\s+3625/);
    assert.equal(await Deno.readTextFile(`${dir}/data/summary/by_region.csv`), SUMMARY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The example's spec with `memory` on its jobs and on the job `plan` returns (its `memory`
 * argument), written to a folder of its own; without `memory`, the spec as it is.
 */
async function exampleSpec(memory?: string): Promise<{ dir: string; path: string }> {
  const spec = parse(await Deno.readTextFile(`${EXAMPLE}/pipeline.yaml`));
  if (memory) {
    for (const job of spec.jobs) job.memory = memory;
    spec.jobs[0].args.memory = memory;
  }
  return await specFile(spec);
}

/** Checks the run's jobs: three `clean` tasks under the memory asked for. */
function assertJobs(state: StateDocument, memory: string | undefined) {
  assert.equal(state.status, "Completed");
  assert.deepEqual(Object.keys(state.jobs), ["plan", "summarize", "clean"]);
  assert.equal(state.jobs.clean.tasks?.length, 3, "notes.txt is not a table");
  for (const job of Object.values(state.jobs)) assert.equal(job.memory, memory ?? "1Gi", job.name);
}

Deno.test("pandas-etl, unchanged, under memory: 256Mi on a local data dir", async () => {
  const python = await pandasPython();
  const { dir, path } = await exampleSpec("256Mi");
  try {
    await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
    const result = await ktDeno(
      ["run", path, "--functions", `${EXAMPLE}/kt_functions`, "--data-dir", `${dir}/data`],
      dir,
      { KT_PYTHON: python },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assertJobs(await stateOf(`${dir}/data`, runIdOf(result.stdout)), "256Mi");
    assert.equal(await Deno.readTextFile(`${dir}/data/summary/by_region.csv`), SUMMARY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const settings = { sanitizeOps: false, sanitizeResources: false };
let minio: Promise<Minio> | undefined;

for (const memory of [undefined, "256Mi"]) {
  Deno.test({
    name: `pandas-etl, unchanged, on an s3:// data dir under ${memory ?? "the default memory"}`,
    ...settings,
    fn: async () => {
      const python = await pandasPython();
      const s = await (minio ??= startMinio());
      for (const [key, value] of Object.entries(s.env)) Deno.env.set(key, value);
      const dataDir = `s3://${s.bucket}/pandas-etl-${memory ?? "default"}`;
      const fs = new DataFs(new S3Driver(dataDir));
      for await (const entry of Deno.readDir(`${EXAMPLE}/data/input`)) {
        await fs.writeBytes(
          `input/${entry.name}`,
          await Deno.readFile(`${EXAMPLE}/data/input/${entry.name}`),
        );
      }
      const { dir, path } = await exampleSpec(memory);
      try {
        const result = await ktDeno(
          ["run", path, "--functions", `${EXAMPLE}/kt_functions`, "--data-dir", dataDir],
          dir,
          { ...s.env, KT_PYTHON: python },
        );
        assert.equal(result.code, 0, result.stdout + result.stderr);
        const runId = runIdOf(result.stdout);
        assertJobs(
          await fs.readJson<StateDocument>(`kt-metadata/${runId}/pipeline_run_state.json`),
          memory,
        );
        assert.deepEqual(await fs.listdir("cleaned"), [
          "2026-01.parquet",
          "2026-02.parquet",
          "2026-03.parquet",
        ]);
        assert.equal(await fs.read("summary/by_region.csv"), SUMMARY);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "(MinIO stops)",
  ...settings,
  fn: async () => {
    await (await minio?.catch(() => undefined))?.stop();
  },
});
