/**
 * The Dockerfile: its two targets read as intended, and the `worker` target built for real
 * (offline, with podman: tests/cluster/images.ts). The `controller` target cannot be built
 * on this machine: its `deno compile` downloads Deno's runtime from Deno's servers, which
 * these tests do not reach, so it is checked as text only.
 */
import assert from "node:assert/strict";
import { VERSION } from "../src/version.ts";
import { podman, workerImage } from "./cluster/images.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface Stage {
  name: string;
  base: string;
  lines: string[];
}

function stages(text: string): Stage[] {
  const joined = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim());
  const out: Stage[] = [];
  for (const line of joined) {
    if (!line || line.startsWith("#")) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ base: from[1], name: from[2] ?? "", lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

const dockerfile = await Deno.readTextFile(`${ROOT}Dockerfile`);
const all = stages(dockerfile);
const stage = (name: string) => all.find((s) => s.name === name)!;

Deno.test("the Dockerfile has a controller and a worker target", () => {
  assert.deepEqual(all.map((s) => s.name), ["build", "controller", "worker"]);
});

Deno.test("the controller image is the binary alone, non-root, binary as entrypoint", () => {
  const controller = stage("controller");
  assert.match(controller.base, /distroless\/cc/);
  assert.deepEqual(controller.lines.filter((l) => l.startsWith("COPY")), [
    "COPY --from=build /out/kt-deno /usr/local/bin/kt-deno",
  ]);
  const user = controller.lines.find((l) => l.startsWith("USER"))!;
  assert.ok(user && !/\b(0|root)\b/.test(user), user);
  assert.ok(controller.lines.includes('ENTRYPOINT ["/usr/local/bin/kt-deno"]'));
});

Deno.test("the worker image runs as non-root with kt-deno on PATH, python3 and /app/kt_functions", () => {
  const worker = stage("worker");
  assert.ok(
    worker.lines.some((l) => /apt-get install .*\bpython3\b/.test(l)),
    "python3, for Python task functions",
  );
  const run = worker.lines.find((l) => l.startsWith("RUN deno install"))!;
  assert.match(run, /\/usr\/local\/bin\/kt-deno/);
  assert.match(run, /mkdir -p \/app\/kt_functions/);
  assert.equal(worker.lines.findLast((l) => l.startsWith("USER")), "USER 10001");
});

Deno.test("every file the Dockerfile copies from the repository exists", async () => {
  for (const line of all.flatMap((s) => s.lines).filter((l) => /^COPY\s+(?!--from)/.test(l))) {
    const sources = line.split(/\s+/).slice(1, -1);
    for (const source of sources) {
      assert.ok(await Deno.stat(`${ROOT}${source}`), `${line}: ${source}`);
    }
  }
});

Deno.test("one Deno version is pinned everywhere", async () => {
  const pinned = /ARG DENO_VERSION=(\S+)/.exec(dockerfile)![1];
  assert.match(pinned, /^\d+\.\d+\.\d+$/);
  for (const file of ["README.md", ".ci/run"]) {
    const versions = [
      ...(await Deno.readTextFile(`${ROOT}${file}`)).matchAll(/deno@(\d+\.\d+\.\d+)/g),
    ];
    assert.ok(versions.length > 0, file);
    for (const [, version] of versions) assert.equal(version, pinned, file);
  }
  assert.equal(Deno.version.deno, pinned, "the tests run on the pinned Deno");
});

Deno.test({
  name: "the worker target builds: user 10001, kt-deno as entrypoint, /app as workdir",
  sanitizeResources: false,
  fn: async () => {
    const image = await workerImage();
    const [{ Config: config }] = JSON.parse(await podman(["image", "inspect", image]));
    assert.equal(config.User, "10001");
    assert.deepEqual(config.Entrypoint, ["kt-deno"]);
    assert.deepEqual(config.Cmd, ["task"]);
    assert.equal(config.WorkingDir, "/app");
    // it runs in pods on the test cluster's real node (version_check_test.ts and others)
    assert.equal(config.Labels["kt-deno.source"]?.length, 16);
    // built under the README's name too, the one `FROM kt-deno-worker:<version>` uses
    assert.match(image, new RegExp(`^localhost/kt-deno-worker:${VERSION}-[0-9a-f]{16}$`));
    const [{ Id: named }] = JSON.parse(
      await podman(["image", "inspect", `kt-deno-worker:${VERSION}`]),
    );
    const [{ Id: pinned }] = JSON.parse(await podman(["image", "inspect", image]));
    assert.equal(pinned, named);
  },
});
