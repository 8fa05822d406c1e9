/**
 * Starts the test cluster by hand and leaves it running:
 *
 *     deno run -A tests/cluster/up.ts [--dir DIR] [--image-map FILE]
 *     export KUBECONFIG=DIR/admin.kubeconfig
 *     kubectl get nodes
 *     deno run -A tests/cluster/down.ts --dir DIR
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startCluster } from "./cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { dir: { type: "string" }, "image-map": { type: "string" } },
});
const dir = values.dir ?? await Deno.makeTempDir({ prefix: "kt-cluster-" });
await Deno.mkdir(dir, { recursive: true });
const imageMap = values["image-map"]
  ? JSON.parse(await Deno.readTextFile(values["image-map"]))
  : { "*": {} };
const started = Date.now();
const cluster = await startCluster({ dir, imageMap, detached: true });
console.log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
console.log(`stop it with: deno run -A tests/cluster/down.ts --dir ${cluster.dir}`);
Deno.exit(0);
