/**
 * How this program starts itself again (for worker processes): the compiled binary
 * directly, or `deno run` of this same entry with this same config.
 *
 * @module
 */

import { isCompiled } from "../version.ts";

/**
 * The argv that runs `kt-deno` with the given subcommand and arguments.
 *
 * @example
 * ```ts
 * import { selfCommand } from "./self_command.ts";
 * const [program, ...args] = selfCommand(["version"]);
 * ```
 */
export function selfCommand(args: string[]): string[] {
  if (isCompiled()) return [Deno.execPath(), ...args];
  const config = new URL("../../deno.json", import.meta.url).pathname;
  const main = new URL("../../main.ts", import.meta.url).pathname;
  return [Deno.execPath(), "run", "-A", "--quiet", "--config", config, main, ...args];
}
