/**
 * The signals that stop a local run: Ctrl-C (SIGINT), a closed terminal (SIGHUP) and
 * SIGTERM interrupt it, each saying which signal it was; SIGUSR2, what `kt-deno cancel`
 * sends to the launcher, cancels it. SIGPIPE is ignored (the runtime does): output that
 * cannot be written is dropped, and the run goes on.
 *
 * @module
 */
import { CANCEL_SIGNAL } from "./stop_run.ts";

/** The signals that interrupt a run, with the exit code each gives (128 + its number). */
export const INTERRUPTS = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

/** A signal that interrupts a run. */
export type InterruptSignal = keyof typeof INTERRUPTS;

/** Abort signals for a local run, and a way to stop listening. */
export interface StopSignals {
  interrupt: AbortSignal;
  cancel: AbortSignal;
  /** The signal that interrupted the run, if one did. */
  readonly stoppedBy: InterruptSignal | undefined;
  dispose(): void;
}

const REASONS: Record<InterruptSignal, string> = {
  SIGINT: "SIGINT",
  SIGHUP: "SIGHUP (the terminal was closed)",
  SIGTERM: "terminated by SIGTERM",
};

/**
 * Listens for the stop signals until disposed. A second SIGINT or SIGTERM exits at once; a
 * second SIGHUP changes nothing.
 *
 * @example
 * ```ts ignore
 * const stops = stopSignals();
 * try { await runLocally(pipeline, { ...options, signal: stops.interrupt, cancel: stops.cancel }); }
 * finally { stops.dispose(); }
 * ```
 */
export function stopSignals(): StopSignals {
  const interrupt = new AbortController();
  const cancel = new AbortController();
  let stoppedBy: InterruptSignal | undefined;
  const listeners = (Object.keys(INTERRUPTS) as InterruptSignal[]).map((signal) => {
    const listener = () => {
      if (interrupt.signal.aborted) {
        // A second Ctrl-C or SIGTERM is a person insisting; a second hang-up (a terminal and
        // its session leader both send one) is not, and the run is already stopping.
        if (signal !== "SIGHUP") Deno.exit(INTERRUPTS[stoppedBy ?? signal]);
        return;
      }
      stoppedBy = signal;
      interrupt.abort(REASONS[signal]);
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  const onCancel = () => cancel.abort("by kt-deno cancel");
  Deno.addSignalListener(CANCEL_SIGNAL, onCancel);
  return {
    interrupt: interrupt.signal,
    cancel: cancel.signal,
    get stoppedBy() {
      return stoppedBy;
    },
    dispose() {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
      Deno.removeSignalListener(CANCEL_SIGNAL, onCancel);
    },
  };
}

/**
 * The exit code of a finished local run: 0 completed, 128 + the signal's number when a
 * signal interrupted it (130 for Ctrl-C), 1 otherwise.
 */
export function exitCodeOf(status: string, stoppedBy?: InterruptSignal): number {
  if (status === "Completed") return 0;
  if (status === "Interrupted") return INTERRUPTS[stoppedBy ?? "SIGINT"];
  return 1;
}
