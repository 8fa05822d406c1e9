/**
 * The `kt-deno` entry point. The local executor's worker processes take a short path
 * that loads only the task runner; everything else goes through the CLI.
 *
 * @module
 */
if (import.meta.main) {
  if (Deno.args[0] === "worker") {
    const { workerMain } = await import("./src/task/worker.ts");
    Deno.exit(await workerMain());
  }
  const { main } = await import("./src/cli/main.ts");
  Deno.exit(await main(Deno.args));
}
