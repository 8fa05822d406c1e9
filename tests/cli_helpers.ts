/**
 * Running `kt-deno` as a user would, for the CLI tests: a separate process, its exit
 * code and output.
 *
 * @module
 */
import { stringify } from "yaml";
import type { StateDocument } from "../src/engine/state.ts";

/** What one `kt-deno` invocation did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
/** The fixture task functions. */
export const FIXTURE_FUNCTIONS = new URL("./fixtures/kt_functions", import.meta.url).pathname;

/** Runs `kt-deno ARGS` in `cwd` and waits for it. */
export async function ktDeno(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    cwd,
    env,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Starts `kt-deno ARGS` without waiting (for signal tests). */
export function spawnKtDeno(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Writes a spec as YAML into a new temporary folder and returns the folder and path. */
export async function specFile(spec: unknown): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kt-cli-test-" });
  const path = `${dir}/pipeline.yaml`;
  await Deno.writeTextFile(path, stringify(spec));
  return { dir, path };
}

/** True when something is at the path. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The run id a `kt-deno run` printed. */
export function runIdOf(stdout: string): string {
  const match = /run id: (ktpr[0-9a-f]{8})/.exec(stdout);
  if (!match) throw new Error(`no run id in output:\n${stdout}`);
  return match[1];
}

/** Reads a run's state document from a local data dir. */
export async function stateOf(dataDir: string, runId: string) {
  return JSON.parse(
    await Deno.readTextFile(`${dataDir}/kt-metadata/${runId}/pipeline_run_state.json`),
  ) as StateDocument;
}

/** Each job's status in a state document, by name. */
export function statuses(state: StateDocument): Record<string, string> {
  return Object.fromEntries(Object.values(state.jobs).map((job) => [job.name, job.status]));
}

/**
 * Reads a child's output until `pattern` shows in it, within `seconds`; returns what was
 * read. Throws, with what was read, when the output ends first or the time runs out.
 */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  seconds = 60,
): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  let out = "";
  while (!pattern.test(out)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${seconds}s waiting for ${pattern} in: ${out}`)),
        Math.max(0, deadline - Date.now()),
      );
    });
    const { value, done } = await Promise.race([reader.read(), late]).finally(() =>
      clearTimeout(timer)
    );
    if (done) throw new Error(`the output ended before ${pattern} showed: ${out}`);
    out += value;
  }
  return out;
}
