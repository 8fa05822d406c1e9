/**
 * `kt-deno controller`: the command of a run's controller Job (in the cluster). Its run
 * settings come in the `KT_RUN_SETTINGS` environment variable, the spec from the data dir.
 * With `--schedule NAME` it is a schedule's firing: it starts a fresh run from the
 * schedule's kept spec, then drives it.
 *
 * @module
 */
import { Command } from "commander";
import { positiveInt } from "./errors.ts";

/** The `controller` subcommand. */
export function controllerSubcommand(exit: (code: number) => void): Command {
  return new Command("controller")
    .description(
      "drive a run inside the cluster (the controller Job's command; exit 0 completed, 3 failed, 2 cannot run)",
    )
    .option("--schedule <name>", "start a fresh run of this schedule (its CronJob's command)")
    .option(
      "--keep <n>",
      "with --schedule, prune its finished runs but the newest N after the run",
      positiveInt("--keep"),
    )
    .action(async (flags: { schedule?: string; keep?: number }) => {
      const { runController } = await import("../k8s/controller.ts");
      const schedule = flags.schedule === undefined
        ? undefined
        : { name: flags.schedule, keep: flags.keep };
      exit(await runController({ schedule }));
    });
}
