/**
 * `kt-deno why RUN JOB[/INDEX]`: why each task of a run with the cache was skipped or ran
 * (no entry, code changed, args changed, which input changed and how, an output missing).
 *
 * @module
 */
import { Command } from "commander";
import { type CacheDecision, readDecisions } from "../records/cache.ts";
import { checkRunId } from "../records/state_read.ts";
import { statePath } from "../records/layout.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, withS3Flags } from "./flags.ts";

/** One task's decision as a line: `job/index: ran: why`. */
export function formatDecision(job: string, decision: CacheDecision): string {
  return `${job}/${decision.index}: ${decision.outcome}: ${decision.why}`;
}

interface WhyFlags {
  dataDir: string;
  output: string;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
}

async function whyCommand(runId: string, task: string, flags: WhyFlags): Promise<number> {
  checkRunId(runId);
  const match = /^([^/]+)(?:\/(\d+))?$/.exec(task);
  if (!match) throw new UsageError(`expected JOB or JOB/INDEX, got ${JSON.stringify(task)}`);
  if (flags.output !== "text" && flags.output !== "json") {
    throw new UsageError(`--output must be text or json, got ${JSON.stringify(flags.output)}`);
  }
  applyS3Flags(flags);
  const [, job, index] = match;
  const fs = new DataFs(openStorage(flags.dataDir));
  const all = await readDecisions(fs, runId);
  if (Object.keys(all).length === 0 && !await fs.exists(statePath(runId))) {
    throw new UsageError(`no run ${runId} in data dir ${flags.dataDir}`);
  }
  if (Object.keys(all).length === 0) {
    throw new UsageError(`run ${runId} in ${flags.dataDir} did not use the cache (run --cache)`);
  }
  const list = all[job];
  if (!list) {
    throw new UsageError(
      `run ${runId} has no cached job ${job}; its jobs with the cache: ${
        Object.keys(all).sort().join(", ")
      }`,
    );
  }
  const shown = index === undefined ? list : list.filter((d) => d.index === Number(index));
  if (shown.length === 0) throw new UsageError(`job ${job} of run ${runId} has no task ${index}`);
  if (flags.output === "json") console.log(JSON.stringify(shown, null, 2));
  else for (const decision of shown) console.log(formatDecision(job, decision));
  return 0;
}

/** The `why` subcommand. */
export function whySubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("why"))
    .description("say why the tasks of a run with --cache were skipped (cached) or ran")
    .argument("<run-id>", "the run id that kt-deno run printed")
    .argument("<task>", "JOB or JOB/INDEX")
    .option("--data-dir <dir>", "data dir of the run", "./kt-data")
    .option("-o, --output <format>", "text or json", "text")
    .action(async (runId: string, task: string, flags: WhyFlags) =>
      exit(await whyCommand(runId, task, flags))
    );
}
