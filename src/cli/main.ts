/**
 * The `kt-deno` command line: one program that is the launcher, the local executor, and
 * (with later subcommands) the controller and task runner, chosen by subcommand.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { SpecError } from "../spec/problems.ts";
import { checkPathFlags, printable, UsageError } from "./errors.ts";
import { DataDirError } from "../storage/open.ts";
import { SetupError } from "../k8s/errors.ts";
import { ResumeRefused } from "../run/resume_plan.ts";
import { CorruptRecordError, UnknownRunError } from "../records/state_read.ts";
import { cancelSubcommand } from "./cancel.ts";
import { controllerSubcommand } from "./controller.ts";
import { listSubcommand } from "./list.ts";
import { logsSubcommand } from "./logs.ts";
import { resumeSubcommand } from "./resume.ts";
import { pruneSubcommand } from "./prune.ts";
import { pythonSubcommand } from "./python.ts";
import { rbacSubcommand } from "./rbac.ts";
import { reportSubcommand } from "./report.ts";
import { runSubcommand } from "./run.ts";
import { taskSubcommand } from "./task.ts";
import { scheduleSubcommand } from "./schedule.ts";
import { schemaSubcommand } from "./schema.ts";
import { statusSubcommand } from "./status.ts";
import { validateSubcommand } from "./validate.ts";
import { versionLine, versionSubcommand } from "./version.ts";
import { whySubcommand } from "./why.ts";
import { lineageSubcommand } from "./lineage.ts";

/**
 * Runs the CLI with the given arguments and resolves to the exit code: 0 success,
 * 1 a failed run or an error, 2 bad usage or an invalid spec.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await main(["validate", "pipeline.yaml"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let code = 0;
  const exit = (c: number) => code = c;
  const program = new Command("kt-deno")
    .description("run batch data pipelines, on this machine or on Kubernetes")
    .version(versionLine(), "-V, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .hook(
      "preAction",
      (_program, action) =>
        checkPathFlags(action.opts(), (key, value) => action.setOptionValue(key, value)),
    )
    .addCommand(runSubcommand(exit))
    .addCommand(validateSubcommand(exit))
    .addCommand(statusSubcommand(exit))
    .addCommand(reportSubcommand(exit))
    .addCommand(logsSubcommand(exit))
    .addCommand(listSubcommand(exit))
    .addCommand(cancelSubcommand(exit))
    .addCommand(resumeSubcommand(exit))
    .addCommand(scheduleSubcommand(exit))
    .addCommand(pruneSubcommand(exit))
    .addCommand(whySubcommand(exit))
    .addCommand(lineageSubcommand(exit))
    .addCommand(schemaSubcommand(exit))
    .addCommand(versionSubcommand(exit))
    .addCommand(rbacSubcommand(exit))
    .addCommand(controllerSubcommand(exit))
    .addCommand(taskSubcommand(exit))
    .addCommand(pythonSubcommand(exit));
  for (const command of program.commands) command.exitOverride();
  try {
    if (args.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(args, { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
          error.code === "commander.help"
        ? 0
        : 2;
    }
    if (
      error instanceof SpecError || error instanceof UsageError || error instanceof DataDirError ||
      error instanceof SetupError || error instanceof ResumeRefused ||
      error instanceof CorruptRecordError || error instanceof UnknownRunError
    ) {
      console.error(`kt-deno: ${printable(error.message)}`);
      return 2;
    }
    console.error(`kt-deno: ${printable(error instanceof Error ? error.message : String(error))}`);
    return 1;
  }
}
