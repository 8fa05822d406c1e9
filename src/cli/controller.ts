/**
 * `kt-deno controller`: the command of a run's controller Job (in the cluster). Its run
 * settings come in the `KT_RUN_SETTINGS` environment variable, the spec from the data dir.
 *
 * @module
 */
import { Command } from "commander";

/** The `controller` subcommand. */
export function controllerSubcommand(exit: (code: number) => void): Command {
  return new Command("controller")
    .description(
      "drive a run inside the cluster (the controller Job's command; exit 0 completed, 3 failed, 2 cannot run)",
    )
    .action(async () => {
      const { runController } = await import("../k8s/controller.ts");
      exit(await runController());
    });
}
