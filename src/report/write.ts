/**
 * Making a run's report and writing it next to its state document.
 *
 * @module
 */
import { reportPath } from "../records/layout.ts";
import type { DataFs } from "../storage/data_fs.ts";
import type { StateDocument } from "../engine/state.ts";
import { VERSION } from "../version.ts";
import { loadReport } from "./load.ts";
import { renderPage } from "./page.ts";

/**
 * A run's report page, read from its data dir. Throws NotFoundError when there is no such
 * run.
 *
 * @example
 * ```ts ignore
 * const html = await makeReport(new DataFs(openStorage("./kt-data")), "ktpr0000abcd");
 * ```
 */
export async function makeReport(
  fs: DataFs,
  runId: string,
  doc?: Readonly<StateDocument>,
): Promise<string> {
  const model = await loadReport(fs, runId, undefined, doc);
  return renderPage(model, { version: VERSION, generatedAt: new Date() });
}

/**
 * Writes a run's report to its `reportPath` in its data dir and returns
 * that path.
 *
 * @example
 * ```ts ignore
 * await writeReport(new DataFs(openStorage("./kt-data")), "ktpr0000abcd");
 * // reportPath("ktpr0000abcd")
 * ```
 */
export async function writeReport(
  fs: DataFs,
  runId: string,
  doc?: Readonly<StateDocument>,
): Promise<string> {
  const path = reportPath(runId);
  await fs.write(path, await makeReport(fs, runId, doc));
  return path;
}

/**
 * Writes a run's report at the end of the run, from its final state document; a report
 * that cannot be made is reported through `warn` and does not change how the run ended.
 * Returns the path, or undefined.
 */
export async function reportAfterRun(
  fs: DataFs,
  doc: Readonly<StateDocument>,
  warn: (line: string) => void,
): Promise<string | undefined> {
  try {
    return await writeReport(fs, doc.pipeline_run_id, doc);
  } catch (error) {
    warn(`the run's report could not be written: ${(error as Error).message}`);
    return undefined;
  }
}
