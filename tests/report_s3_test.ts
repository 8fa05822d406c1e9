/**
 * The report of a run whose data dir is in S3 (a real MinIO server): written into the
 * bucket at the end of the run, and made again from it by `kt-deno report`.
 */
import assert from "node:assert/strict";
import type { StateDocument } from "../src/engine/state.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { startMinio } from "./minio/harness.ts";
import { openPage, startBrowser } from "./report_browser.ts";
import { assertShowsState, readShown } from "./report_pages.ts";

const EXAMPLE = new URL("../examples/hello-world", import.meta.url).pathname;

Deno.test({
  name: "a run on an s3:// data dir leaves its report in the bucket; report -o reads it back",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const minio = await startMinio();
    const { dir } = await specFile({});
    const { browser, close } = await startBrowser();
    try {
      for (const [key, value] of Object.entries(minio.env)) Deno.env.set(key, value);
      const fs = new DataFs(new S3Driver(`s3://${minio.bucket}/report`));
      for await (const entry of Deno.readDir(`${EXAMPLE}/data/input`)) {
        await fs.write(`input/${entry.name}`, "a line\n");
      }
      const dataDir = `s3://${minio.bucket}/report`;
      const result = await ktDeno(
        [
          "run",
          `${EXAMPLE}/pipeline.yaml`,
          "--functions",
          `${EXAMPLE}/kt_functions`,
          "--data-dir",
          dataDir,
        ],
        dir,
        minio.env,
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const runId = runIdOf(result.stdout);
      assert.match(
        result.stdout,
        new RegExp(`report: kt-metadata/${runId}/report.html in ${dataDir}`),
      );
      const written = await fs.read(`kt-metadata/${runId}/report.html`);
      assert.match(written, /data-job="prepend" data-status="Completed"/);

      const again = await ktDeno(
        ["report", runId, "--data-dir", dataDir, "-o", "r.html"],
        dir,
        minio.env,
      );
      assert.equal(again.code, 0, again.stderr);
      const url = `file://${dir}/r.html`;
      const { page, requests, errors } = await openPage(browser, url);
      const state = await fs.readJson<StateDocument>(
        `kt-metadata/${runId}/pipeline_run_state.json`,
      );
      assertShowsState(await readShown(page), state);
      assert.equal((await readShown(page)).tasks.length, 4, "task times from the bucket");
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url]);
    } finally {
      await close();
      await minio.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
