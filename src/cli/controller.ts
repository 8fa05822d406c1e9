/**
 * `kt-deno controller`: the command of a run's controller Job (in the cluster).
 *
 * @module
 */
import { Command } from "commander";
import { CONFIG_MOUNT } from "../k8s/manifests.ts";

/** The `controller` subcommand. */
export function controllerSubcommand(exit: (code: number) => void): Command {
  return new Command("controller")
    .description("drive a run inside the cluster (the controller Job's command)")
    .option("--config <dir>", "folder of the run's ConfigMap", CONFIG_MOUNT)
    .action(async (flags: { config: string }) => {
      const { runController } = await import("../k8s/controller.ts");
      exit(await runController({ configDir: flags.config }));
    });
}
