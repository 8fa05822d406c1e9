/**
 * Every test file that starts the test cluster stops it: a file whose `clusterSuite` has no
 * `end()` leaves the machine's one real node running, and every later cluster file then
 * waits for it and fails (as `cache_cluster_test.ts` once did).
 */
import assert from "node:assert/strict";

const TESTS = new URL(".", import.meta.url).pathname;

async function* testFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* testFiles(`${path}/`);
    else if (entry.name.endsWith("_test.ts")) yield path;
  }
}

Deno.test("every test file with a clusterSuite calls its end() after its last test", async () => {
  const missing: string[] = [];
  let suites = 0;
  for await (const path of testFiles(TESTS)) {
    const text = await Deno.readTextFile(path);
    const suite = /const (\w+) = clusterSuite\(/.exec(text);
    if (!suite) continue;
    suites++;
    const name = suite[1];
    const end = text.lastIndexOf(`${name}.end();`);
    const lastTest = text.lastIndexOf(`${name}.test(`);
    if (end === -1 || end < lastTest) missing.push(path.slice(TESTS.length));
  }
  assert.ok(suites > 5, `found only ${suites} cluster suites under ${TESTS}`);
  assert.deepEqual(missing, [], "these files start the cluster and never stop it");
});
