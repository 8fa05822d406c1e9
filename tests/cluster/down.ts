/**
 * Stops a cluster that up.ts started (exactly the processes in DIR/pids.json), undoes what
 * its real node did to the machine, and removes its folder. It also cleans up after a
 * crashed run: give it that run's folder, or any folder when that one is gone.
 *
 *     deno task cluster:down --dir DIR
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
