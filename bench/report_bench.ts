/**
 * Report benchmark: real local runs of about 100, 1,000 and 10,000 jobs (a dynamic job
 * returning shards, each shard a dynamic job returning no-op jobs, one of which fails),
 * then for each: the time to make the report from the data dir, its size, and in headless
 * Chromium the time to first contentful paint and until the page's script is done.
 *
 *     deno run -A bench/report_bench.ts [--jobs 100,1000,10000]
 *
 * @module
 */
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { writeReport } from "../src/report/write.ts";
import { openPage, startBrowser } from "../tests/report_browser.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const SIZES = String(args.jobs ?? "100,1000,10000").split(",").map(Number);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const FUNCTIONS = new URL("../tests/fixtures/kt_functions", import.meta.url).pathname;

/** A spec of `n` jobs: prepare, fan (returning shards of about 100 jobs), collect. */
function spec(n: number) {
  const shards = Math.max(1, Math.floor((n - 3) / 100));
  const leaves = n - 3 - shards;
  const noop = { function: "steps.noop" };
  const jobs = Array.from({ length: shards }, (_, s) => {
    const count = Math.floor(leaves / shards) + (s < leaves % shards ? 1 : 0);
    return {
      name: `shard-${s}`,
      type: "dynamic",
      function: "steps.spawn",
      args: {
        jobs: Array.from({ length: count }, (_, i) => ({
          name: `shard-${s}-job-${i}`,
          type: "static",
          tasks: [s === 0 && i === 7 ? { function: "steps.fail" } : noop],
          ...(i % 10 === 9 ? { dependencies: [`shard-${s}-job-${i - 1}`] } : {}),
        })),
      },
    };
  });
  return {
    name: `bench-${n}`,
    jobs: [
      { name: "prepare", type: "static", tasks: [noop] },
      {
        name: "fan",
        type: "dynamic",
        dependencies: ["prepare"],
        function: "steps.spawn",
        args: { jobs },
      },
      { name: "collect", type: "static", dependencies: ["fan"], tasks: [noop] },
    ],
  };
}

async function run(n: number, dir: string): Promise<{ runId: string; seconds: number }> {
  await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(spec(n)));
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      CONFIG,
      MAIN,
      "run",
      `${dir}/spec.json`,
      "--data-dir",
      `${dir}/data`,
      "--functions",
      FUNCTIONS,
    ],
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const runId = /run id: (ktpr[0-9a-f]{8})/.exec(text)?.[1];
  if (!runId) throw new Error(`no run id:\n${text}`);
  return { runId, seconds: (performance.now() - started) / 1000 };
}

const { browser, close } = await startBrowser();
const rows: string[] = [];
try {
  for (const n of SIZES) {
    const dir = await Deno.makeTempDir({ prefix: "kt-report-bench-" });
    try {
      const { runId, seconds } = await run(n, dir);
      const fs = new DataFs(openStorage(`${dir}/data`));
      const jobs = Object.keys(
        (await fs.readJson<{ jobs: object }>(`kt-metadata/${runId}/pipeline_run_state.json`))
          .jobs,
      ).length;
      const made = performance.now();
      const path = await writeReport(fs, runId);
      const makeMs = performance.now() - made;
      const file = `${dir}/data/${path}`;
      const bytes = (await Deno.stat(file)).size;
      const url = `file://${file}`;
      const opened = performance.now();
      const { page, requests, errors } = await openPage(browser, url);
      const wall = performance.now() - opened;
      await page.waitForFunction(
        `performance.getEntriesByName("first-contentful-paint").length > 0`,
      );
      const timing = await page.evaluate(`(() => ({
        fcp: performance.getEntriesByName("first-contentful-paint")[0].startTime,
        ready: performance.getEntriesByName("kt-report-ready")[0].startTime,
        boxes: document.querySelectorAll("#dag .box").length,
      }))()`) as { fcp: number; ready: number; boxes: number };
      await page.close();
      if (errors.length || requests.length !== 1) throw new Error(`${errors} ${requests}`);
      rows.push(
        `| ${jobs.toLocaleString("en-US")} | ${timing.boxes} | ${Math.round(makeMs)} ms | ${
          (bytes / 1e6).toFixed(2)
        } MB | ${Math.round(timing.fcp)} ms | ${Math.round(timing.ready)} ms | ${
          Math.round(wall)
        } ms |`,
      );
      console.log(`${rows.at(-1)} (the run itself took ${seconds.toFixed(1)} s)`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
} finally {
  await close();
}
console.log(
  "\n| jobs | boxes drawn | make the report | size | first contentful paint | script done | open to done, measured by the test client |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const row of rows) console.log(row);
