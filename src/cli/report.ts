/**
 * `kt-deno report RUN_ID`: a run's report as one HTML file, or served while the run goes
 * on.
 *
 * @module
 */
import type { Command } from "commander";
import { METADATA_ROOT, reportPath, SCHEDULES_ROOT } from "../records/layout.ts";
import { checkRunId } from "../records/state_read.ts";
import { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { checkDataDir } from "../storage/open.ts";
import { UsageError } from "./errors.ts";
import { applyS3Flags, commandOnARun } from "./flags.ts";

/** Options of `kt-deno report`. */
export interface ReportFlags {
  dataDir: string;
  output?: string;
  serve?: boolean;
  port?: number;
  host?: string;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new UsageError(`--port must be a port number (0 to 65535), got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Refuses an output file under a folder of run records or schedules (followed
 * through symlinks): those hold kt-deno's records of runs, which an output flag must never
 * overwrite.
 */
export async function checkOutputPath(flag: string, path: string): Promise<void> {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const slash = absolute.lastIndexOf("/");
  const parent = absolute.slice(0, slash) || "/";
  const real = await Deno.realPath(absolute).catch(() =>
    Deno.realPath(parent).then((dir) => `${dir}/${absolute.slice(slash + 1)}`, () => absolute)
  );
  for (const place of [absolute, real]) {
    const segments = place.split("/");
    const root = [METADATA_ROOT, SCHEDULES_ROOT].find((name) => segments.includes(name));
    if (root) {
      throw new UsageError(
        `${flag} ${path}: refused, it is inside ${root}/, which holds kt-deno's records of runs`,
      );
    }
  }
}

/** Writes or serves a run's report; resolves to the exit code. */
export async function reportCommand(runId: string, flags: ReportFlags): Promise<number> {
  checkRunId(runId);
  if (flags.port !== undefined && !flags.serve) throw new UsageError("--port needs --serve");
  if (flags.host !== undefined && !flags.serve) throw new UsageError("--host needs --serve");
  if (flags.host !== undefined && !/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/.test(flags.host)) {
    throw new UsageError(
      `--host must be a host name or address (such as reports.lan or 192.168.1.5), got ${
        JSON.stringify(flags.host)
      }`,
    );
  }
  if (flags.output !== undefined && flags.serve) {
    throw new UsageError("--output and --serve do not go together (the server makes the page)");
  }
  if (flags.output !== undefined) await checkOutputPath("--output", flags.output);
  applyS3Flags(flags);
  const fs = new DataFs(await checkDataDir(flags.dataDir));
  const missing = (error: unknown): never => {
    if (error instanceof NotFoundError) {
      throw new UsageError(`no run ${runId} in data dir ${flags.dataDir}`);
    }
    throw error;
  };
  if (flags.serve) {
    const { serveReport } = await import("../report/serve.ts");
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    Deno.addSignalListener("SIGINT", onSigint);
    try {
      await serveReport(fs, runId, {
        port: flags.port ?? 0,
        host: flags.host,
        signal: stop.signal,
        onListen: (url) => console.log(`serving the report of ${runId} on ${url} (Ctrl-C stops)`),
      }).catch((error) => {
        const where = `${flags.host ?? "127.0.0.1"} port ${flags.port ?? 0}`;
        if (error instanceof Deno.errors.AddrInUse) {
          throw new UsageError(`${where} is in use; choose another --port`);
        }
        if (
          error instanceof Deno.errors.PermissionDenied ||
          error instanceof Deno.errors.AddrNotAvailable
        ) {
          throw new UsageError(`cannot serve on ${where}: ${error.message}`);
        }
        return missing(error);
      });
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
    }
    return 0;
  }
  const { makeReport, writeReport } = await import("../report/write.ts");
  if (flags.output !== undefined) {
    const html = await makeReport(fs, runId).catch(missing);
    await Deno.writeTextFile(flags.output, html);
    console.log(`report: ${flags.output}`);
  } else {
    const path = await writeReport(fs, runId).catch(missing);
    console.log(`report: ${path} in ${flags.dataDir}`);
  }
  return 0;
}

/** The `report` subcommand. */
export function reportSubcommand(exit: (code: number) => void): Command {
  return commandOnARun(
    "report",
    "make a run's report: one HTML file with its graph, timeline and jobs",
  )
    .option(
      "-o, --output <file>",
      `write the report to this file (default: ${reportPath("<run id>")} in the data dir)`,
    )
    .option("--serve", "serve the report on 127.0.0.1, refreshed as the run changes")
    .option("--port <n>", "port to serve on (default: a free one)", port)
    .option(
      "--host <name>",
      "with --serve, the name or address to serve on instead of 127.0.0.1; requests must be " +
        "addressed to it (or to localhost)",
    )
    .action(async (runId: string, flags: ReportFlags) => exit(await reportCommand(runId, flags)));
}
