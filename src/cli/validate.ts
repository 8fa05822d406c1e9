/**
 * `kt-deno validate SPEC`: checks a spec and says what is wrong, running nothing.
 *
 * @module
 */
import { Command } from "commander";

/** The `validate` subcommand. */
export function validateSubcommand(exit: (code: number) => void): Command {
  return new Command("validate")
    .description("check a pipeline spec without running it")
    .argument("<spec>", "pipeline spec file")
    .action(async (spec: string) => {
      const { loadSpec } = await import("../spec/load.ts");
      const pipeline = await loadSpec(spec);
      console.log(
        `${spec}: valid pipeline ${JSON.stringify(pipeline.name)}, ${pipeline.jobs.length} jobs`,
      );
      exit(0);
    });
}
