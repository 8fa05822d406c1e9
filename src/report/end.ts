/**
 * The last lines of a run driven here: why its failed jobs failed, where its state is,
 * and its HTML report (written now).
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import { failureReport } from "../records/failures.ts";
import { statePath } from "../records/layout.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";

/**
 * Prints the end of a run: its failures (standard error), its status and state path, and
 * the path of its report, written now.
 */
export async function reportEnd(dataDir: string, doc: Readonly<StateDocument>): Promise<void> {
  const fs = new DataFs(openStorage(dataDir));
  const failures = await failureReport(fs, doc);
  if (failures) console.error(failures.replace(/^\n/, ""));
  const { reportAfterRun } = await import("./write.ts");
  const report = await reportAfterRun(
    fs,
    doc,
    (line) => console.error(`kt-deno: ${line}`),
  );
  console.log(
    `run ${doc.pipeline_run_id} ${doc.status}; state: ${
      statePath(doc.pipeline_run_id)
    } in ${dataDir}`,
  );
  if (report) console.log(`report: ${report} in ${dataDir}`);
}
