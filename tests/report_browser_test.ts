import assert from "node:assert/strict";
import {
  exists,
  FIXTURE_FUNCTIONS,
  ktDeno,
  readUntil,
  runIdOf,
  spawnKtDeno,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { copy } from "./copy.ts";
import { until } from "./until.ts";
import { openPage, startBrowser } from "./report_browser.ts";
import { assertShowsState, detailsText, focusedJob, readShown } from "./report_pages.ts";

const HELLO = new URL("../examples/hello-world", import.meta.url).pathname;
const browserTest = { sanitizeOps: false, sanitizeResources: false };
/** Screenshots of the pages the tests saw, kept after the test folders are removed. */
const SCREENS = await Deno.makeTempDir({ prefix: "kt-report-screens-" });

/** Opens a page in a Chromium of its own; `close` stops that Chromium. */
async function open(url: string) {
  const { browser, close } = await startBrowser();
  try {
    return { ...await openPage(browser, url), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The report a local run wrote, checked to be where `run` said. */
function reportOf(stdout: string, dataDir: string, runId: string): string {
  assert.match(stdout, new RegExp(`report: kt-metadata/${runId}/report.html in `));
  return `${dataDir}/kt-metadata/${runId}/report.html`;
}

Deno.test(
  "the hello-world report shows its two jobs, their tasks and a timeline",
  browserTest,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-report-test-" });
    await copy(HELLO, `${dir}/hello-world`);
    const data = `${dir}/hello-world/data`;
    const result = await ktDeno(
      ["run", "pipeline.yaml", "--functions", "kt_functions", "--data-dir", data],
      `${dir}/hello-world`,
    );
    assert.equal(result.code, 0, result.stderr);
    const runId = runIdOf(result.stdout);
    const state = await stateOf(data, runId);
    const url = `file://${reportOf(result.stdout, data, runId)}`;
    const { page, requests, errors, close } = await open(url);
    try {
      const shown = await readShown(page);
      assertShowsState(shown, state);
      assert.equal(shown.run["run-id"], runId);
      assert.equal(shown.run["run-status"], "Completed");
      assert.equal(shown.run["run-version"], state.kt_version);
      assert.deepEqual(shown.frames, ["plan"], "plan's frame holds what it returned");
      assert.deepEqual(
        shown.edges.map((e) => [e.from, e.to, e.kind]),
        [["j:plan", "j:prepend", "returned"]],
      );
      assert.deepEqual(shown.tasks.map((t) => [t.job, t.ok]).sort(), [
        ["plan", true],
        ["prepend", true],
        ["prepend", true],
        ["prepend", true],
      ]);
      assert.match(
        await page.$eval(`#dag .box[data-job="prepend"] .tasks`, (e) => e.textContent!),
        /3 tasks: 3 done/,
      );

      // The keyboard reaches the boxes; Enter shows a job's details, Escape hides them.
      for (let i = 0; i < 5 && !await focusedJob(page); i++) await page.keyboard.press("Tab");
      assert.equal(await focusedJob(page), "plan", "Tab reaches the boxes after the zoom buttons");
      await page.keyboard.press("Tab");
      assert.equal(await focusedJob(page), "prepend");
      await page.keyboard.press("Enter");
      const details = await detailsText(page);
      assert.match(details!, /^prepend/);
      assert.match(details!, /tasks3 \(3 done, 0 failed\)/);
      await page.keyboard.press("Escape");
      assert.equal(await detailsText(page), null);
      await page.hover(`#dag .box[data-job="plan"]`);
      assert.match((await detailsText(page))!, /^plan.*returned1 job$/);

      await page.screenshot({ path: `${SCREENS}/hello-world.png`, fullPage: true });
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url], "the page requests nothing but itself");
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "a failed run's report: a dynamic job's frames, skipped jobs, the failed task's log",
  browserTest,
  async () => {
    const ok = (name: string) => ({ function: "steps.ok", args: { name } });
    const { dir, path } = await specFile({
      name: "failing",
      jobs: [
        {
          name: "plan",
          type: "dynamic",
          function: "steps.spawn",
          args: {
            jobs: [
              {
                name: "work",
                type: "static",
                tasks: [ok("w0"), { function: "report_steps.noisyFail", args: { lines: 30 } }],
              },
              {
                name: "nested",
                type: "dynamic",
                function: "steps.spawn",
                args: { jobs: [{ name: "deep", type: "static", tasks: [ok("d0")] }] },
              },
              { name: "work-after", type: "static", dependencies: ["work"], tasks: [ok("wa")] },
            ],
          },
        },
        { name: "side", type: "static", tasks: [ok("side")] },
        { name: "after", type: "static", dependencies: ["plan"], tasks: [ok("after")] },
        { name: "last", type: "static", dependencies: ["after", "side"], tasks: [ok("last")] },
      ],
    });
    const data = `${dir}/kt-data`;
    const result = await ktDeno(
      ["run", path, "--data-dir", data, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    assert.equal(result.code, 1, result.stderr);
    const runId = runIdOf(result.stdout);
    const state = await stateOf(data, runId);
    assert.equal(state.jobs.plan.status, "DescendantFailed");
    assert.equal(state.jobs.last.status, "SkippedDueToUpstreamFailure");
    const url = `file://${reportOf(result.stdout, data, runId)}`;
    const { page, requests, errors, close } = await open(url);
    try {
      const shown = await readShown(page);
      assertShowsState(shown, state);
      assert.equal(shown.run["run-status"], "Failed");
      assert.deepEqual(shown.frames.sort(), ["nested", "plan"]);
      assert.deepEqual(shown.tasks.filter((t) => t.job === "work").map((t) => t.ok).sort(), [
        false,
        true,
      ]);
      assert.match(
        await page.$eval(`#dag .box[data-job="work"] .tasks`, (e) => e.textContent!),
        /2 tasks: 1 done, 1 failed/,
      );
      await page.click(`#dag .box[data-job="work"]`);
      assert.match((await detailsText(page))!, /failed after logging/);
      // Task logs come with the runner that keeps them (kt-metadata/<run>/logs/).
      if (await exists(`${data}/kt-metadata/${runId}/logs/work/1.log`)) {
        const [log] = shown.logs;
        assert.deepEqual([log.job, log.index], ["work", 1]);
        const lines = log.text.split("\n");
        assert.ok(lines.includes("log line 30 of 30"), log.text);
        assert.ok(lines.length <= 20 && !lines.includes("log line 1 of 30"), "only the last lines");
        assert.match((await detailsText(page))!, /log line 30 of 30/);
      } else {
        assert.deepEqual(shown.logs, [], "no log, no log lines");
      }
      await page.screenshot({ path: `${SCREENS}/failed.png`, fullPage: true });
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url]);
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** Waits until a file exists (a task writes it when it starts). */
async function appears(path: string): Promise<void> {
  await until(`${path} to appear`, 60, () => exists(path), { everyMs: 20 });
}

Deno.test(
  "an interrupted run's report says Interrupted and shows the job that was stopped",
  browserTest,
  async () => {
    const { dir, path } = await specFile({
      name: "stopped",
      jobs: [
        { name: "quick", type: "static", tasks: [{ function: "steps.ok", args: { name: "q" } }] },
        {
          name: "long",
          type: "static",
          dependencies: ["quick"],
          tasks: [{ function: "report_steps.waitForFile", args: { path: "never", started: "go" } }],
        },
        { name: "after", type: "static", dependencies: ["long"], tasks: [] },
      ],
    });
    const data = `${dir}/kt-data`;
    const child = spawnKtDeno(
      ["run", path, "--data-dir", data, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    const stdout = new Response(child.stdout).text();
    const stderr = new Response(child.stderr).text();
    await appears(`${data}/go`);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 130, await stderr);
    const out = await stdout;
    const runId = runIdOf(out);
    const state = await stateOf(data, runId);
    assert.equal(state.status, "Interrupted");
    const url = `file://${reportOf(out, data, runId)}`;
    const { page, requests, errors, close } = await open(url);
    try {
      const shown = await readShown(page);
      assertShowsState(shown, state);
      assert.equal(shown.run["run-status"], "Interrupted");
      await page.click(`#timeline .row[data-job="long"] .bar`);
      assert.match((await detailsText(page))!, /interrupted: SIGINT/);
      await page.screenshot({ path: `${SCREENS}/interrupted.png`, fullPage: true });
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url]);
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const CACHED_STEPS = `
export async function upper(args: { input: string; output: string }, ctx: any) {
  await ctx.fs.write(args.output, (await ctx.fs.read(args.input)).toUpperCase());
}
export async function count(args: { input: string; output: string }, ctx: any) {
  await ctx.fs.write(args.output, String((await ctx.fs.read(args.input)).length));
}
`;

Deno.test(
  "a run with --cache: a task's details say cached or ran, why, and the files it read and wrote",
  browserTest,
  async () => {
    const files = ["a.txt", "b.txt"];
    const { dir, path } = await specFile({
      name: "cached",
      jobs: [
        {
          name: "upper",
          type: "static",
          tasks: files.map((f) => ({
            function: "steps.upper",
            args: { input: `input/${f}`, output: `mid/${f}` },
          })),
        },
        {
          name: "count",
          type: "static",
          dependencies: ["upper"],
          tasks: files.map((f) => ({
            function: "steps.count",
            args: { input: `mid/${f}`, output: `out/${f}` },
          })),
        },
      ],
    });
    await Deno.mkdir(`${dir}/fns`);
    await Deno.writeTextFile(`${dir}/fns/steps.ts`, CACHED_STEPS);
    const data = `${dir}/kt-data`;
    await Deno.mkdir(`${data}/input`, { recursive: true });
    for (const f of files) await Deno.writeTextFile(`${data}/input/${f}`, `${f}\n`);
    const run = async () => {
      const result = await ktDeno(
        ["run", path, "--data-dir", data, "--functions", "fns", "--cache"],
        dir,
      );
      assert.equal(result.code, 0, result.stderr);
      return result;
    };
    const first = runIdOf((await run()).stdout);
    await Deno.writeTextFile(`${data}/input/b.txt`, "b, longer now\n");
    const second = await run();
    const runId = runIdOf(second.stdout);
    const url = `file://${reportOf(second.stdout, data, runId)}`;
    const { page, requests, errors, close } = await open(url);
    try {
      await page.click(`#dag .box[data-job="count"]`);
      const details = (await detailsText(page))!;
      assert.match(details, /cache1 cached, 1 ran/);
      // The task that ran comes first, with why; then the cached one.
      const tasks = await page.$$eval(
        "#details-body details.lineage",
        (els) => els.map((e) => ({ index: e.getAttribute("data-index"), text: e.textContent })),
      );
      assert.deepEqual(tasks.map((t) => t.index), ["1", "0"]);
      assert.match(tasks[0].text!, /^Task 1: ran input mid\/b\.txt changed/);
      assert.match(tasks[1].text!, /^Task 0: cached its entry holds/);
      // Opened, a task lists what it read (and who wrote it) and what it wrote.
      await page.click(`#details-body details.lineage[data-index="1"] summary`);
      await page.click(`#details-body details.lineage[data-index="0"] summary`);
      const reads = await page.$$eval(
        "#details-body details.lineage .reads li",
        (els) => els.map((e) => e.textContent),
      );
      assert.deepEqual(reads, [
        `mid/b.txt written by upper/1`,
        `mid/a.txt written by upper/0 (run ${first})`,
      ]);
      const writes = await page.$$eval(
        "#details-body details.lineage .writes li",
        (els) => els.map((e) => e.textContent),
      );
      assert.deepEqual(writes, ["out/b.txt", "out/a.txt"]);
      assert.match(
        details + (await detailsText(page)),
        new RegExp(`From its entry of run ${first}`),
      );
      // The first job's tasks read inputs no task wrote.
      await page.click(`#dag .box[data-job="upper"]`);
      await page.click(`#details-body details.lineage[data-index="1"] summary`);
      assert.match(
        (await detailsText(page))!,
        /Task 1: ran input input\/b\.txt changed.*read 1 fileinput\/b\.txtwrote 1 filemid\/b\.txt/,
      );
      await page.click(`#dag .box[data-job="count"]`);
      await page.click(`#details-body details.lineage[data-index="1"] summary`);
      await page.click(`#details-body details.lineage[data-index="0"] summary`);
      await page.screenshot({ path: `${SCREENS}/cached.png`, fullPage: false });
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url]);
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "report --serve shows a run as it goes and reloads when its state changes",
  browserTest,
  async () => {
    const { dir, path } = await specFile({
      name: "served",
      jobs: [
        {
          name: "gate",
          type: "static",
          tasks: [{ function: "report_steps.waitForFile", args: { path: "go", started: "gate" } }],
        },
        {
          name: "next",
          type: "static",
          dependencies: ["gate"],
          tasks: [{ function: "steps.ok", args: { name: "n" } }],
        },
      ],
    });
    const data = `${dir}/kt-data`;
    const run = spawnKtDeno(
      ["run", path, "--data-dir", data, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    const runOut = run.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const runId = runIdOf(await readUntil(runOut, /run id: ktpr\w+/));
    await appears(`${data}/gate`);
    const server = spawnKtDeno(["report", runId, "--data-dir", data, "--serve"], dir);
    const serverOut = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const line = await readUntil(serverOut, /on (http:\S+)/);
    const url = /on (http:\S+)/.exec(line)![1];
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { page, requests, errors, close } = await open(url);
    try {
      let shown = await readShown(page);
      assert.equal(shown.run["run-status"], "Running");
      assert.deepEqual(shown.boxes.map((b) => [b.job, b.status]), [
        ["gate", "Running"],
        ["next", "Pending"],
      ]);
      await Deno.writeTextFile(`${data}/go`, "");
      assert.equal((await run.status).code, 0);
      await page.waitForFunction(
        `document.getElementById("run-status")?.textContent === "Completed" && document.documentElement.dataset.ready === "true"`,
        { timeout: 60_000 },
      );
      shown = await readShown(page);
      assertShowsState(shown, await stateOf(data, runId));
      await page.screenshot({ path: `${SCREENS}/served.png`, fullPage: true });
      assert.deepEqual(errors, []);
      assert.ok(requests.every((r) => r.startsWith(url)), `requests: ${requests}`);
      server.kill("SIGINT");
      assert.equal((await server.status).code, 0);
    } finally {
      await close();
      for (const child of [run, server]) {
        try {
          child.kill("SIGKILL");
        } catch { /* already ended */ }
      }
      await runOut.cancel();
      await serverOut.cancel();
      await run.stderr.cancel();
      await server.stderr.cancel();
      console.log(`screenshots: ${SCREENS}`);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
