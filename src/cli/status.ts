/**
 * `kt-deno status RUN_ID`: a run's jobs and their statuses, from its state document.
 *
 * @module
 */
import type { Command } from "commander";
import { type StateDocument } from "../engine/state.ts";
import { readRunState } from "../records/state_read.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { describeStatus, readHeartbeat } from "../records/heartbeat.ts";
import { UsageError } from "./errors.ts";
import { failureReport } from "../records/failures.ts";
import { cacheSummary, readDecisions } from "../records/cache.ts";
import { applyS3Flags, commandOnARun } from "./flags.ts";

/** The state as a text table: one row a job. `runStatus` is the run's status as shown. */
export function formatStatus(doc: StateDocument, runStatus: string = doc.status): string {
  const rows = [["JOB", "TYPE", "STATUS", "ATTEMPTS", "PARENT", "ERROR"]];
  for (const job of Object.values(doc.jobs)) {
    rows.push([
      job.name,
      job.type,
      job.status,
      String(job.attempts ?? 0),
      job.parent_job ?? "",
      job.error ?? "",
    ]);
  }
  const widths = rows[0].map((_, c) =>
    rows.reduce((most, row) => Math.max(most, row[c].length), 0)
  );
  const table = rows.map((row) =>
    row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()
  );
  return [`run ${doc.pipeline_run_id} (${doc.pipeline_name}): ${runStatus}`, ...table].join("\n");
}

/** The `status` subcommand. */
export function statusSubcommand(exit: (code: number) => void): Command {
  return commandOnARun("status", "show a run's jobs and their statuses")
    .option("-o, --output <format>", "table or json", "table")
    .action(async (
      runId: string,
      flags: { dataDir: string; output: string; s3Endpoint?: string; s3PathStyle?: boolean },
    ) => {
      applyS3Flags(flags);
      if (flags.output !== "table" && flags.output !== "json") {
        throw new UsageError(`--output must be table or json, got ${JSON.stringify(flags.output)}`);
      }
      const doc = await readRunState(flags.dataDir, runId);
      if (flags.output === "json") {
        console.log(JSON.stringify(doc, null, 2));
        return exit(0);
      }
      const fs = new DataFs(openStorage(flags.dataDir));
      const shown = describeStatus(doc, await readHeartbeat(fs, runId));
      console.log(formatStatus(doc, shown.text));
      const cache = cacheSummary(await readDecisions(fs, runId));
      if (cache) console.log(cache);
      const report = await failureReport(fs, doc);
      if (report) console.log(report);
      if (shown.gone) {
        console.log(
          `\nthe run is not being driven; continue it with: kt-deno resume ${runId} --data-dir ${flags.dataDir}`,
        );
      }
      exit(0);
    });
}
