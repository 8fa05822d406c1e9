/**
 * `kt-deno schema`: prints the JSON Schema of pipeline specs.
 *
 * @module
 */
import { Command } from "commander";

/** The `schema` subcommand. */
export function schemaSubcommand(exit: (code: number) => void): Command {
  return new Command("schema")
    .description("print the JSON Schema of pipeline specs (for editor validation)")
    .action(async () => {
      const { pipelineJsonSchema } = await import("../spec/schema.ts");
      console.log(JSON.stringify(pipelineJsonSchema(), null, 2));
      exit(0);
    });
}
