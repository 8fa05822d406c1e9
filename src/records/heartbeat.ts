/**
 * Liveness of a run: the process that drives it (the local launcher or the controller)
 * rewrites a small heartbeat file every few seconds with who it is and a summary of the
 * run, so `status` and `list` can tell a run that is driven from one whose driver died,
 * and `list` needs to read only this file per run.
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { heartbeatPath } from "./layout.ts";

/** Who drives a run. */
export interface Driver {
  role: "launcher" | "controller";
  pid: number;
  host: string;
  /** The namespace of a controller. */
  namespace?: string;
  /** The schedule that started the run. */
  schedule?: string;
}

/** The heartbeat file: its driver, when it last beat, and a summary of the run. */
export interface Heartbeat extends Driver {
  run_id: string;
  heartbeat_at: string;
  pipeline_name: string;
  status: StateDocument["status"];
  created_at: string;
  finished_at?: string;
  jobs_completed: number;
  jobs_total: number;
  /** Set by the driver's last beat: it has stopped driving the run. */
  stopped?: true;
}

/** The heartbeat of a run in a given state, beating now. */
export function heartbeatOf(doc: Readonly<StateDocument>, driver: Driver, now: Date): Heartbeat {
  let completed = 0, total = 0;
  for (const name in doc.jobs) {
    total++;
    if (doc.jobs[name].status === "Completed") completed++;
  }
  return {
    run_id: doc.pipeline_run_id,
    ...driver,
    heartbeat_at: now.toISOString(),
    pipeline_name: doc.pipeline_name,
    status: doc.status,
    created_at: doc.created_at,
    ...(doc.finished_at ? { finished_at: doc.finished_at } : {}),
    jobs_completed: completed,
    jobs_total: total,
  };
}

function seconds(name: string, fallback: number): number {
  const value = Number(Deno.env.get(name));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** How often a driver beats: `KT_HEARTBEAT_SECONDS`, default 5. */
export function heartbeatIntervalMs(): number {
  return seconds("KT_HEARTBEAT_SECONDS", 5) * 1000;
}

/** How long without a beat makes a Running run look gone: `KT_HEARTBEAT_STALE_SECONDS`, default 60. */
export function staleAfterMs(): number {
  return seconds("KT_HEARTBEAT_STALE_SECONDS", 60) * 1000;
}

/** This process as the driver of a run. */
export function thisDriver(role: Driver["role"], namespace?: string, schedule?: string): Driver {
  return {
    role,
    pid: Deno.pid,
    host: Deno.hostname(),
    ...(namespace ? { namespace } : {}),
    ...(schedule ? { schedule } : {}),
  };
}

/**
 * Keeps a run's heartbeat: a write now, one every interval, and a last one on stop with
 * the final state.
 *
 * @example
 * ```ts ignore
 * const beat = new HeartbeatWriter(fs, thisDriver("launcher"), () => run.document);
 * beat.start();
 * await drivePipeline(run, executor, fs);
 * await beat.stop();
 * ```
 */
export class HeartbeatWriter {
  #timer?: ReturnType<typeof setInterval>;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly fs: DataFs,
    readonly driver: Driver,
    readonly state: () => Readonly<StateDocument>,
    readonly intervalMs = heartbeatIntervalMs(),
  ) {}

  /** Writes a beat now and then every interval. */
  start(): Promise<void> {
    this.#timer = setInterval(() => void this.beat(), this.intervalMs);
    Deno.unrefTimer(this.#timer!);
    return this.beat();
  }

  /** Writes one beat (after the one before it); a failed write is reported, not thrown. */
  beat(stopped = false): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      const doc = this.state();
      try {
        await this.fs.writeJson(
          heartbeatPath(doc.pipeline_run_id),
          { ...heartbeatOf(doc, this.driver, new Date()), ...(stopped ? { stopped: true } : {}) },
        );
      } catch (error) {
        console.error(`kt-deno: cannot write the heartbeat: ${(error as Error).message}`);
      }
    });
    return this.#chain;
  }

  /** Stops beating after a last write of the final state. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.beat(true);
  }
}

/** Reads a run's heartbeat, or null when it has none. */
export async function readHeartbeat(fs: DataFs, runId: string): Promise<Heartbeat | null> {
  return await fs.readJson<Heartbeat>(heartbeatPath(runId)).catch(() => null);
}

/**
 * Whether a process of this host is alive: false for one that has exited (or is a
 * zombie), null where this cannot be told (no /proc).
 */
export function processAlive(pid: number): boolean | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      try {
        Deno.statSync("/proc/self");
        return false;
      } catch {
        return null;
      }
    }
    return null;
  }
}

/** What is known of a Running run's driver. */
export type Liveness =
  | { alive: true }
  | { alive: false; why: string };

/**
 * Whether the driver of a Running run is alive: not when its heartbeat is older than
 * `staleMs`, nor when it ran on this host and its process has exited. A run without a
 * heartbeat counts as alive (nothing says otherwise).
 */
export function livenessOf(
  beat: Heartbeat | null,
  now: Date,
  staleMs = staleAfterMs(),
  host = Deno.hostname(),
  alive: (pid: number) => boolean | null = processAlive,
): Liveness {
  if (!beat) return { alive: true };
  const silent = now.getTime() - Date.parse(beat.heartbeat_at);
  const who = beat.role;
  if (beat.host === host && beat.role === "launcher" && alive(beat.pid) === false) {
    return { alive: false, why: `${who} gone: process ${beat.pid} on this host has exited` };
  }
  if (silent > staleMs) {
    return { alive: false, why: `no heartbeat for ${formatDuration(silent)}: ${who} gone?` };
  }
  return { alive: true };
}

/**
 * A duration as people say it: `45s`, `3m`, `2h5m`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./heartbeat.ts";
 * formatDuration(185_000); // "3m5s"
 * ```
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}

/**
 * A run's status as `status` and `list` show it: `Running (no heartbeat for 3m: launcher
 * gone?)` for a Running run whose driver is gone.
 */
export function describeStatus(
  doc: Pick<StateDocument, "status">,
  beat: Heartbeat | null,
  now = new Date(),
): { text: string; gone: boolean } {
  if (doc.status !== "Running") return { text: doc.status, gone: false };
  const live = livenessOf(beat, now);
  return live.alive
    ? { text: "Running", gone: false }
    : { text: `Running (${live.why})`, gone: true };
}
