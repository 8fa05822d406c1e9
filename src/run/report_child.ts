/**
 * Writing a run's report from a child process (`kt-deno report`), for long-lived drivers
 * such as the controller.
 *
 * @module
 */
import { reportPath } from "../records/layout.ts";
import { selfCommand } from "../task/self_command.ts";

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
