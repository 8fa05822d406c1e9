/**
 * examples/pandas-etl, with pandas and pyarrow in a virtualenv named by KT_PYTHON: run by
 * `kt-deno run` as its README says, and started from Python with `run_pipeline`.
 */
import assert from "node:assert/strict";
import { copy } from "./copy.ts";
import { ktDeno, runIdOf, stateOf } from "./cli_helpers.ts";
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
