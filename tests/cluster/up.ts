/**
 * Starts the test cluster by hand and leaves it running, real node included:
 *
 *     deno task cluster:up [--dir DIR] [--hello-image]
 *     export KUBECONFIG=DIR/admin.kubeconfig
 *     ~/.cache/kt-deno/bin/k8s-v1.35.4/kubectl get nodes
 *     deno task cluster:down --dir DIR
 *
 * `--hello-image` builds the hello-world worker image (examples/hello-world/kt_functions on
 * the Dockerfile's worker image), loads it into the node and prints its name.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startCluster } from "./cluster.ts";
import { testImage } from "./images.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: { dir: { type: "string" }, "hello-image": { type: "boolean" } },
});
const dir = values.dir ?? await Deno.makeTempDir({ prefix: "kt-cluster-" });
await Deno.mkdir(dir, { recursive: true });
const images = values["hello-image"]
  ? [await testImage("hello", [`${ROOT}examples/hello-world/kt_functions`])]
  : [];
const started = Date.now();
const cluster = await startCluster({ dir, images, detached: true });
console.log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
for (const image of images) console.log(`image: ${image.ref}`);
console.log(`stop it with: deno task cluster:down --dir ${cluster.dir}`);
Deno.exit(0);
