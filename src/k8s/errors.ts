/**
 * The error of a run that cannot be set up on a cluster as asked.
 *
 * @module
 */

/**
 * A cluster operation refused before it changed anything: a kubeconfig that cannot be
 * used, a data dir that pods could not write. The command line reports it as bad usage
 * (exit code 2).
 */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SetupError";
  }
}

/**
 * The controller cannot run this run, whoever tries again (another version, no spec, bad
 * settings): it exits 2, which ends its Job.
 */
export class CannotRun extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CannotRun";
  }
}
