/**
 * `kt-deno lineage PATH`: the run, job and task that last wrote a file of the data dir (as
 * the cache recorded it), the files that task read, and the tasks that read the file.
 *
 * @module
 */
import { Command } from "commander";
import { type Lineage, lineage } from "../records/cache.ts";
import { DataFs } from "../storage/data_fs.ts";
import { normalizePath } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, withS3Flags } from "./flags.ts";

/**
 * A lineage as text lines.
 *
 * @example
 * ```ts
 * import { formatLineage } from "./lineage.ts";
 * formatLineage({ path: "out/a.txt", writer: null, readers: [] });
 * // "out/a.txt: no task with the cache wrote it\nread by: no task with the cache"
 * ```
 */
export function formatLineage(found: Lineage): string {
  const task = (t: { run_id: string; job: string; index: number; function: string }) =>
    `${t.run_id} ${t.job}/${t.index} (${t.function})`;
  const lines: string[] = [];
  if (!found.writer) lines.push(`${found.path}: no task with the cache wrote it`);
  else {
    lines.push(`${found.path}: written by ${task(found.writer)} at ${found.writer.time}`);
    const reads = Object.keys(found.writer.reads);
    lines.push(reads.length ? "which read:" : "which read nothing");
    for (const path of reads) lines.push(`  ${path}`);
  }
  if (found.readers.length === 0) lines.push("read by: no task with the cache");
  else {
    lines.push("read by:");
    for (const reader of found.readers) lines.push(`  ${task(reader)}`);
  }
  return lines.join("\n");
}

interface LineageFlags {
  dataDir: string;
  output: string;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
}

async function lineageCommand(path: string, flags: LineageFlags): Promise<number> {
  if (flags.output !== "text" && flags.output !== "json") {
    throw new UsageError(`--output must be text or json, got ${JSON.stringify(flags.output)}`);
  }
  let normal: string;
  try {
    normal = normalizePath(path);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  applyS3Flags(flags);
  const found = await lineage(new DataFs(openStorage(flags.dataDir)), normal);
  console.log(flags.output === "json" ? JSON.stringify(found, null, 2) : formatLineage(found));
  return 0;
}

/** The `lineage` subcommand. */
export function lineageSubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("lineage"))
    .description(
      "say which task last wrote a file of the data dir, what it read, and which tasks read the file (runs with --cache)",
    )
    .argument("<path>", "a path relative to the data dir")
    .option("--data-dir <dir>", "data dir", "./kt-data")
    .option("-o, --output <format>", "text or json", "text")
    .action(async (path: string, flags: LineageFlags) => exit(await lineageCommand(path, flags)));
}
