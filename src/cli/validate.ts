/**
 * `kt-deno validate SPEC`: checks a spec and says what is wrong, running nothing; warns
 * of a job that would make more pods on Kubernetes than a namespace comfortably holds.
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
      const { podCountWarnings } = await import("../spec/pod_count.ts");
      const pipeline = await loadSpec(spec);
      for (const line of podCountWarnings(pipeline.jobs)) {
        console.error(`kt-deno: warning: ${line}`);
      }
      console.log(
        `${spec}: valid pipeline ${JSON.stringify(pipeline.name)}, ${pipeline.jobs.length} jobs`,
      );
      exit(0);
    });
}
