/**
 * The report of a run on the cluster: written by the controller at the end of the run,
 * with the task times its pods recorded, and read in a real browser.
 */
import assert from "node:assert/strict";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { applyRbac, clusterSuite, podLog, writableByPods } from "./cluster/harness.ts";
import { exists } from "./cli_helpers.ts";
import { until } from "./until.ts";
import { testImage } from "./cluster/images.ts";
import { openPage, startBrowser } from "./report_browser.ts";
import { assertShowsState, readShown } from "./report_pages.ts";

const FUNCTIONS_IMAGE = await testImage("report", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });
const ok = (name: string) => ({ function: "steps.ok", args: { name } });

suite.test("the controller writes the report: a box per job, pod task times, the error", async ({ cluster, kube }) => {
  await applyRbac(kube);
  const { dir, path } = await specFile({
    name: "on-cluster",
    jobs: [
      {
        name: "plan",
        type: "dynamic",
        function: "steps.spawn",
        args: {
          jobs: [{
            name: "work",
            type: "static",
            tasks: [ok("w0"), {
              function: "steps.fail",
              args: { message: "broke on the cluster" },
            }],
          }],
        },
      },
      { name: "side", type: "static", tasks: [ok("s0"), ok("s1")] },
      { name: "after", type: "static", dependencies: ["plan", "side"], tasks: [ok("a")] },
    ],
  });
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  const { browser, close } = await startBrowser();
  try {
    const result = await ktDeno(
      ["run", path, "--image", IMAGE, "--controller-image", IMAGE, "--data-dir", dataDir, "--wait"],
      dir,
      { KUBECONFIG: cluster.kubeconfigPath },
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const runId = runIdOf(result.stdout);
    assert.match(result.stdout, new RegExp(`report: kt-metadata/${runId}/report.html in `));
    const state = await stateOf(dataDir, runId);
    const file = `${dataDir}/kt-metadata/${runId}/report.html`;
    // run --wait ends with the final state; the controller writes the report after it.
    if (!await until("the controller's report", 60, () => exists(file)).catch(() => false)) {
      const pods = await kube.request<{ items: { metadata: { name: string } }[] }>(
        "GET",
        "/api/v1/namespaces/default/pods",
        { query: { labelSelector: `job-name=kt-controller-${runId}` } },
      );
      const logs = await Promise.all(pods.items.map((p) => podLog(cluster, p.metadata.name)));
      assert.fail(`the controller wrote no report; its log:\n${logs.join("\n")}`);
    }
    const url = `file://${file}`;
    const { page, requests, errors } = await openPage(browser, url);
    const shown = await readShown(page);
    assertShowsState(shown, state);
    assert.equal(shown.run["run-status"], "Failed");
    assert.deepEqual(
      shown.tasks.map((t) => `${t.job}[${t.index}] ${t.ok}`).sort(),
      ["plan[0] true", "side[0] true", "side[1] true", "work[0] true", "work[1] false"],
      "each pod recorded its task's times",
    );
    assert.match(
      await page.$eval(`#dag .box[data-job="work"] .tasks`, (e) => e.textContent!),
      /2 tasks: 1 done, 1 failed/,
    );
    assert.match(await page.content(), /broke on the cluster/);
    const shot = await Deno.makeTempFile({ prefix: "kt-report-cluster-", suffix: ".png" });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [url]);
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

suite.end();
