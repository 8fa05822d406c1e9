/**
 * `kt-deno version`: this build's version, the Deno it runs on and its commit.
 *
 * @module
 */
import { Command } from "commander";
import { buildInfo, VERSION } from "../version.ts";

/** The line `kt-deno version` prints. */
export function versionLine(): string {
  return `kt-deno ${VERSION} (deno ${Deno.version.deno}, commit ${buildInfo().commit}, ${Deno.build.target})`;
}

/** The `version` subcommand. */
export function versionSubcommand(exit: (code: number) => void): Command {
  return new Command("version")
    .description("print the version")
    .action(() => {
      console.log(versionLine());
      exit(0);
    });
}
