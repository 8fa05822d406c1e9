/**
 * `kt-deno prune`: removes finished runs' metadata folders (see records/layout.ts) from a data
 * dir, older than a limit or beyond the newest N; never a run still driven, never outputs.
 *
 * @module
 */
import { Command } from "commander";
import { planPrune, type PrunePlan, removeRuns } from "../records/prune.ts";
import { pruneCache } from "../records/cache.ts";
import { metadataDir } from "../records/layout.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { positiveInt, UsageError } from "./errors.ts";
import { formatTable } from "./table.ts";
import { applyS3Flags, withS3Flags } from "./flags.ts";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Parses `--older-than`: a whole number and a unit (`s`, `m`, `h`, `d`, `w`), in ms.
 *
 * @example
 * ```ts
 * import { parseAge } from "./prune.ts";
 * parseAge("30d"); // 2592000000
 * ```
 */
export function parseAge(text: string): number {
  const match = /^(\d{1,9})([smhdw])$/.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `--older-than must be a number and a unit (s, m, h, d or w), such as 30d, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return Number(match[1]) * UNITS[match[2]] * 1000;
}

/** Bytes as people read them: `512 B`, `3.2 KiB`, `1.5 MiB`. */
function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) value /= 1024, unit++;
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatPlan(plan: PrunePlan): string {
  return formatTable([
    ["RUN", "STATUS", "FINISHED", "SCHEDULE", "SIZE"],
    ...plan.remove.map((run) => [
      run.run_id,
      run.status,
      run.finished_at ? run.finished_at.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-",
      run.schedule ?? "-",
      formatBytes(run.bytes),
    ]),
  ]);
}

interface PruneFlags {
  dataDir: string;
  olderThan?: number;
  keep?: number;
  dryRun?: boolean;
  schedule?: string;
  cache?: boolean;
  output: string;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
}

async function pruneCommand(flags: PruneFlags): Promise<number> {
  if ((flags.olderThan === undefined) === (flags.keep === undefined)) {
    throw new UsageError("give one of --older-than AGE or --keep N");
  }
  if (flags.output !== "table" && flags.output !== "json") {
    throw new UsageError(`--output must be table or json, got ${JSON.stringify(flags.output)}`);
  }
  applyS3Flags(flags);
  const fs = new DataFs(openStorage(flags.dataDir));
  if (flags.cache) return await pruneCacheCommand(fs, flags);
  const now = new Date();
  const plan = await planPrune(fs, {
    olderThanMs: flags.olderThan,
    keep: flags.keep,
    schedule: flags.schedule,
  }, now);
  if (!flags.dryRun) await removeRuns(fs, plan.remove);
  const bytes = plan.remove.reduce((sum, run) => sum + run.bytes, 0);
  if (flags.output === "json") {
    console.log(JSON.stringify({ dry_run: flags.dryRun === true, ...plan, bytes }, null, 2));
    return 0;
  }
  if (plan.remove.length) console.log(formatPlan(plan));
  const verb = flags.dryRun ? "would remove" : "removed";
  console.log(
    `${verb} ${plan.remove.length} run${plan.remove.length === 1 ? "" : "s"} (${
      formatBytes(bytes)
    }) from ${flags.dataDir}; kept ${plan.kept.length}`,
  );
  return 0;
}

/** `prune --cache --keep N`: the cache entries that none of the N newest runs used go. */
async function pruneCacheCommand(fs: DataFs, flags: PruneFlags): Promise<number> {
  if (flags.keep === undefined || flags.olderThan !== undefined || flags.schedule !== undefined) {
    throw new UsageError("--cache takes --keep N (the entries the N newest runs used stay)");
  }
  if (flags.dryRun) throw new UsageError("--cache does not take --dry-run");
  const { removed } = await pruneCache(fs, flags.keep);
  if (flags.output === "json") console.log(JSON.stringify({ cache_entries_removed: removed }));
  else {
    console.log(
      `removed ${removed} cache entr${
        removed === 1 ? "y" : "ies"
      } that none of the ${flags.keep} newest runs used from ${flags.dataDir}`,
    );
  }
  return 0;
}

/** The `prune` subcommand. */
export function pruneSubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("prune"))
    .description(
      `remove finished runs' metadata (${metadataDir("<run id>")}/) from a data dir; outputs stay`,
    )
    .option("--data-dir <dir>", "data dir", "./kt-data")
    .option("--older-than <age>", "runs finished longer ago than this: 30d, 12h, 90m, 2w", parseAge)
    .option(
      "--keep <n>",
      "keep the newest N finished runs, remove the others",
      positiveInt("--keep"),
    )
    .option("--schedule <name>", "only the runs this schedule started")
    .option("--cache", "with --keep N: remove the cache entries none of the N newest runs used")
    .option("--dry-run", "list what would be removed, and how many bytes; remove nothing")
    .option("-o, --output <format>", "table or json", "table")
    .action(async (flags: PruneFlags) => exit(await pruneCommand(flags)));
}
