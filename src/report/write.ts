/**
 * Making a run's report and writing it next to its state document.
 *
 * @module
 */
import { metadataDir } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { VERSION } from "../version.ts";
import { loadReport } from "./load.ts";
import { renderPage } from "./page.ts";

/** Path of a run's report, relative to the data dir. */
export function reportPath(runId: string): string {
  return `${metadataDir(runId)}/report.html`;
}

/**
 * A run's report page, read from its data dir. Throws NotFoundError when there is no such
 * run.
 *
 * @example
 * ```ts ignore
 * const html = await makeReport(new DataFs(openStorage("./kt-data")), "ktpr0000abcd");
 * ```
 */
export async function makeReport(fs: DataFs, runId: string): Promise<string> {
  const model = await loadReport(fs, runId);
  return renderPage(model, { version: VERSION, generatedAt: new Date() });
}

/**
 * Writes a run's report to `kt-metadata/<run id>/report.html` in its data dir and returns
 * that path.
 *
 * @example
 * ```ts ignore
 * await writeReport(new DataFs(openStorage("./kt-data")), "ktpr0000abcd");
 * // "kt-metadata/ktpr0000abcd/report.html"
 * ```
 */
export async function writeReport(fs: DataFs, runId: string): Promise<string> {
  const path = reportPath(runId);
  await fs.write(path, await makeReport(fs, runId));
  return path;
}

/**
 * Writes a run's report at the end of the run; a report that cannot be made is reported
 * through `warn` and does not change how the run ended. Returns the path, or undefined.
 */
export async function reportAfterRun(
  fs: DataFs,
  runId: string,
  warn: (line: string) => void,
): Promise<string | undefined> {
  try {
    return await writeReport(fs, runId);
  } catch (error) {
    warn(`the run's report could not be written: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * Writes a run's report from a child process, so that the memory it takes (the layout
 * library, the page) never counts against a long-lived process such as the controller.
 * The child is `kt-deno` from PATH (what images provide; the worker image's runs only from
 * its cache), else this program started again. Returns the path, or undefined after
 * saying through `warn` why not.
 */
export async function reportInChildProcess(
  dataDir: string,
  runId: string,
  warn: (line: string) => void,
  timeoutMs = 300_000,
): Promise<string | undefined> {
  const { selfCommand } = await import("../task/self_command.ts");
  const args = ["report", runId, "--data-dir", dataDir];
  const spawn = (argv: string[]) =>
    new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  try {
    const out = await spawn(["kt-deno", ...args]).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return spawn(selfCommand(args));
      throw error;
    });
    if (out.success) return reportPath(runId);
    const why = new TextDecoder().decode(out.stderr).trim() || `exit code ${out.code}`;
    warn(`the run's report could not be written: ${why}`);
  } catch (error) {
    warn(`the run's report could not be written: ${(error as Error).message}`);
  }
  return undefined;
}
