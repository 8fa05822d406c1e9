/**
 * kt-deno's version (from deno.json) and the commit it was built from.
 *
 * @module
 */
import config from "../deno.json" with { type: "json" };

/** This build's version (deno.json's `version`). */
export const VERSION: string = config.version;

/** What `deno task compile` records in a binary: the commit, and compiled-in functions. */
export interface BuildInfo {
  commit: string;
  /** Where compiled-in task functions are, relative to the repository root. */
  functions?: string;
}

const BUILD_INFO = new URL("../dist/build_info.json", import.meta.url);

/** True when running as a `deno compile` binary. */
export function isCompiled(): boolean {
  return Deno.mainModule.includes("/deno-compile-");
}

/**
 * The build's commit and compiled-in functions: from dist/build_info.json inside a
 * compiled binary, from git in a checkout.
 */
export function buildInfo(): BuildInfo {
  if (isCompiled()) {
    try {
      return JSON.parse(Deno.readTextFileSync(BUILD_INFO));
    } catch {
      return { commit: "unknown" };
    }
  }
  try {
    const output = new Deno.Command("git", {
      args: ["rev-parse", "--short=12", "HEAD"],
      cwd: new URL("..", import.meta.url).pathname,
      stderr: "null",
    }).outputSync();
    return { commit: output.success ? new TextDecoder().decode(output.stdout).trim() : "unknown" };
  } catch {
    return { commit: "unknown" };
  }
}

/** Where compiled-in functions are inside this binary, or null when there are none. */
export function embeddedFunctionsDir(): string | null {
  const relative = isCompiled() ? buildInfo().functions : undefined;
  return relative ? new URL(`../${relative}`, import.meta.url).pathname : null;
}
