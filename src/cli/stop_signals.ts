/**
 * The signals that stop a local run: Ctrl-C (SIGINT) interrupts it, SIGTERM (what
 * `kt-deno cancel` sends to the launcher) cancels it.
 *
 * @module
 */

/** Abort signals for a local run, and a way to stop listening. */
export interface StopSignals {
  interrupt: AbortSignal;
  cancel: AbortSignal;
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM until disposed. A second Ctrl-C exits at once.
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
  const onSigint = () => {
    if (interrupt.signal.aborted) Deno.exit(130);
    interrupt.abort("SIGINT");
  };
  const onSigterm = () => cancel.abort("by kt-deno cancel");
  Deno.addSignalListener("SIGINT", onSigint);
  Deno.addSignalListener("SIGTERM", onSigterm);
  return {
    interrupt: interrupt.signal,
    cancel: cancel.signal,
    dispose() {
      Deno.removeSignalListener("SIGINT", onSigint);
      Deno.removeSignalListener("SIGTERM", onSigterm);
    },
  };
}

/** The exit code of a finished local run: 0 completed, 130 interrupted, 1 otherwise. */
export function exitCodeOf(status: string): number {
  return status === "Completed" ? 0 : status === "Interrupted" ? 130 : 1;
}
