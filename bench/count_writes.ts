/**
 * Preloaded into `kt-deno run` by the local benchmark (`deno run --preload`): counts the
 * writes of state documents and their bytes, and leaves the count as JSON in the file
 * named by `KT_BENCH_WRITES` when the process ends. Nothing else changes.
 *
 * @module
 */
const out = Deno.env.get("KT_BENCH_WRITES");
if (out) {
  const count = { writes: 0, bytes: 0 };
  const writeFile = Deno.writeFile;
  Object.assign(Deno, {
    writeFile: (
      path: string | URL,
      data: Uint8Array | ReadableStream<Uint8Array>,
      options?: Deno.WriteFileOptions,
    ) => {
      if (String(path).includes("/pipeline_run_state.json") && data instanceof Uint8Array) {
        count.writes++;
        count.bytes += data.length;
      }
      return writeFile(path, data, options);
    },
  });
  addEventListener("unload", () => Deno.writeTextFileSync(out, JSON.stringify(count)));
}
