/**
 * `kt-deno schedule`: pipelines that run on a clock. `create` keeps the spec in the data
 * dir and makes a CronJob whose pod is the controller of a fresh run at each firing;
 * `list`, `delete`, `trigger`, `suspend`, `resume` and `update` act on it by name.
 *
 * @module
 */
import { Command } from "commander";
import type { ConcurrencyPolicy } from "../k8s/schedule_manifests.ts";
import { CONCURRENCY_POLICIES } from "../k8s/schedule_manifests.ts";
import type { ClusterTarget } from "../k8s/connect.ts";
import { scheduleSpecPath } from "../records/layout.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { positiveInt, UsageError } from "./errors.ts";
import { listRuns, type RunSummary } from "../records/runs.ts";
import { formatTable } from "./table.ts";
import {
  applyS3Flags,
  clusterDataDir,
  oneOf,
  type RunFlags,
  withClusterFlags,
  withS3Flags,
} from "./flags.ts";

/** The flags of `schedule create`: those of `run --image`, and the schedule's own. */
interface CreateFlags extends RunFlags {
  cron: string;
  timezone?: string;
  suspend?: boolean;
  concurrencyPolicy: ConcurrencyPolicy;
  keep?: number;
}

type TargetFlags = ClusterTarget & { s3Endpoint?: string; s3PathStyle?: boolean };

function checked(problem: string | null): void {
  if (problem) throw new UsageError(problem);
}

/** The checks of a schedule's input (loaded when used: they bring the cron parser). */
const cron = () => import("../k8s/cron.ts");

async function loadChecked(specPath: string) {
  const { loadSpec } = await import("../spec/load.ts");
  return await loadSpec(specPath);
}

/** `schedule create NAME SPEC`: every input is checked before anything is made. */
async function createCommand(name: string, specPath: string, flags: CreateFlags): Promise<number> {
  const { cronProblem, nextFiring, scheduleNameProblem, timezoneProblem } = await cron();
  checked(scheduleNameProblem(name));
  checked(cronProblem(flags.cron));
  if (flags.timezone !== undefined) checked(timezoneProblem(flags.timezone));
  const pipeline = await loadChecked(specPath);
  applyS3Flags(flags);
  const { dataDir, inCluster } = clusterDataDir(flags);
  const { createSchedule } = await import("../k8s/schedules.ts");
  const made = await createSchedule({
    ...flags,
    dataDir,
    s3EndpointInCluster: inCluster,
    image: flags.image!,
    pipeline,
    schedule: {
      name,
      cron: flags.cron,
      timeZone: flags.timezone,
      suspend: flags.suspend,
      concurrencyPolicy: flags.concurrencyPolicy,
      keep: flags.keep,
    },
  }, (line) => console.error(`kt-deno: warning: ${line}`));
  console.log(`schedule ${name}: cronjob/${made.cronJob} in namespace ${made.namespace}`);
  console.log(`spec: ${scheduleSpecPath(name)} in ${dataDir}`);
  console.log(
    flags.suspend
      ? "suspended: kt-deno schedule resume " + name
      : `next firing: ${nextFiring(flags.cron, flags.timezone).toISOString()}`,
  );
  return 0;
}

function createSubcommand(exit: (code: number) => void): Command {
  const command = withS3Flags(new Command("create"))
    .description("keep a spec in the data dir and run it on a clock (a CronJob)")
    .argument("<name>", "the schedule's name (a DNS label, at most 36 characters)")
    .argument("<spec>", "pipeline spec file")
    .requiredOption(
      "--cron <expr>",
      "when it fires: 5 fields (minute hour day month weekday) or @daily ...",
    )
    .requiredOption(
      "--image <image>",
      "worker image (kt-deno on PATH, functions in /app/kt_functions)",
    )
    .requiredOption("--data-dir <dir>", "data dir every pod can reach (an absolute path or a URL)")
    .option("--timezone <zone>", "IANA time zone of --cron (default: the cluster's, UTC as a rule)")
    .option("--suspend", "create it suspended (no firing until schedule resume)")
    .option(
      "--concurrency-policy <policy>",
      "a firing while the last run still goes: Forbid (skip it), Allow or Replace",
      oneOf("--concurrency-policy", CONCURRENCY_POLICIES),
      "Forbid",
    )
    .option(
      "--keep <n>",
      "after each run, prune its finished runs but the newest N",
      positiveInt("--keep"),
    );
  return withClusterFlags(command).action(async (name: string, spec: string, flags: CreateFlags) =>
    exit(await createCommand(name, spec, flags))
  );
}

/** A schedule's row: its firings from the cluster, its last run from its data dir. */
type ScheduleRow =
  & Awaited<ReturnType<typeof import("../k8s/schedules.ts").listSchedules>>[number]
  & {
    last_run?: string;
    last_run_status?: string;
  };

async function withLastRuns(rows: ScheduleRow[]): Promise<ScheduleRow[]> {
  const runsOf = new Map<string, Promise<RunSummary[]>>();
  for (const row of rows) {
    if (!runsOf.has(row.data_dir)) {
      runsOf.set(row.data_dir, listRuns(new DataFs(openStorage(row.data_dir))).catch(() => []));
    }
    const last = (await runsOf.get(row.data_dir)!).find((run) => run.schedule === row.name);
    if (last) Object.assign(row, { last_run: last.run_id, last_run_status: last.shown_status });
  }
  return rows;
}

function formatSchedules(rows: ScheduleRow[]): string {
  const when = (iso?: string) => iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "Z") : "-";
  return formatTable([
    [
      "NAME",
      "CRON",
      "TIMEZONE",
      "SUSPENDED",
      "ACTIVE",
      "LAST RUN",
      "STATUS",
      "NEXT FIRING",
      "NOTE",
    ],
    ...rows.map((row) => [
      row.name,
      row.cron,
      row.timezone ?? "-",
      row.suspended ? "yes" : "no",
      String(row.active),
      row.last_run ?? "-",
      row.last_run_status ?? "-",
      when(row.next_firing),
      row.last_skipped ? `firing skipped at ${when(row.last_skipped)}: last run still going` : "",
    ]),
  ]);
}

function listSubcommand(exit: (code: number) => void): Command {
  return targetFlags(withS3Flags(new Command("list")))
    .description("list the schedules in a namespace, with their last run and next firing")
    .option("-o, --output <format>", "table or json", "table")
    .action(async (flags: TargetFlags & { output: string }) => {
      if (flags.output !== "table" && flags.output !== "json") {
        throw new UsageError(`--output must be table or json, got ${JSON.stringify(flags.output)}`);
      }
      applyS3Flags(flags);
      const { listSchedules } = await import("../k8s/schedules.ts");
      const rows = await withLastRuns(await listSchedules(flags));
      if (flags.output === "json") console.log(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) console.log("no schedules");
      else console.log(formatSchedules(rows));
      exit(0);
    });
}

function targetFlags(command: Command): Command {
  return command
    .option("-n, --namespace <ns>", "namespace (default: the kubeconfig context's)")
    .option("--context <name>", "kubeconfig context (default: the current one)");
}

/** A subcommand that acts on one schedule by name. */
function byName(
  name: string,
  description: string,
  act: (schedule: string, flags: TargetFlags) => Promise<string>,
  exit: (code: number) => void,
): Command {
  return targetFlags(withS3Flags(new Command(name)))
    .description(description)
    .argument("<name>", "the schedule's name")
    .action(async (schedule: string, flags: TargetFlags) => {
      checked((await cron()).scheduleNameProblem(schedule));
      applyS3Flags(flags);
      console.log(await act(schedule, flags));
      exit(0);
    });
}

const schedules = () => import("../k8s/schedules.ts");

/** The `schedule` subcommand and its subcommands. */
export function scheduleSubcommand(exit: (code: number) => void): Command {
  const update = targetFlags(withS3Flags(new Command("update")))
    .description("replace a schedule's spec (from its next firing on)")
    .argument("<name>", "the schedule's name")
    .argument("<spec>", "pipeline spec file")
    .action(async (name: string, spec: string, flags: TargetFlags) => {
      checked((await cron()).scheduleNameProblem(name));
      const pipeline = await loadChecked(spec);
      applyS3Flags(flags);
      await (await schedules()).updateSchedule(name, pipeline, flags);
      console.log(`schedule ${name}: spec updated; the next firing runs it`);
      exit(0);
    });
  const commands = [
    createSubcommand(exit),
    listSubcommand(exit),
    byName(
      "delete",
      "delete a schedule's CronJob and kept spec (past runs stay)",
      async (name, flags) => {
        await (await schedules()).deleteSchedule(name, flags);
        return `schedule ${name} deleted; its past runs stay in the data dir`;
      },
      exit,
    ),
    byName("trigger", "start one run of a schedule now", async (name, flags) => {
      const started = await (await schedules()).triggerSchedule(name, flags);
      return `run id: ${started.runId}\ncontroller: job/${started.job} in namespace ${started.namespace}`;
    }, exit),
    byName(
      "suspend",
      "stop a schedule's firings (a run going on finishes)",
      async (name, flags) => {
        await (await schedules()).suspendSchedule(name, true, flags);
        return `schedule ${name} suspended`;
      },
      exit,
    ),
    byName("resume", "start a suspended schedule's firings again", async (name, flags) => {
      await (await schedules()).suspendSchedule(name, false, flags);
      return `schedule ${name} resumed`;
    }, exit),
    update,
  ];
  const command = new Command("schedule").description(
    "run a pipeline on a clock: a CronJob whose pod is the controller of a fresh run",
  );
  for (const sub of commands) command.addCommand(sub.exitOverride());
  return command;
}
