/**
 * Stops a cluster that up.ts started (exactly the processes in DIR/pids.json) and removes
 * its folder:
 *
 *     deno run -A tests/cluster/down.ts --dir DIR
 *
 * @module
 */
import { parseArgs } from "node:util";
import { stopCluster } from "./cluster.ts";

const { values } = parseArgs({ args: Deno.args, options: { dir: { type: "string" } } });
if (!values.dir) {
  console.error("usage: down.ts --dir DIR");
  Deno.exit(2);
}
await stopCluster(values.dir);
console.log(`cluster in ${values.dir} stopped`);
