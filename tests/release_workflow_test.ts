/**
 * The release workflow cannot run here; these tests check what can be checked: actionlint
 * accepts it, and it builds what scripts/compile.ts, the Dockerfile and the README's
 * install section say a release holds.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { buildTool } from "./cluster/host.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const WORKFLOW = `${ROOT}.github/workflows/release.yml`;

// deno-lint-ignore no-explicit-any
const workflow: any = parse(await Deno.readTextFile(WORKFLOW));
const readme = await Deno.readTextFile(`${ROOT}README.md`);
const install = /^## Install\n([\s\S]*?)\n## /m.exec(readme)![1];
const version = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).version;

function compileTargets(): string[] {
  const source = Deno.readTextFileSync(`${ROOT}scripts/compile.ts`);
  const list = /export const TARGETS = \[([^\]]*)\]/.exec(source)![1];
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

function steps(job: string): { name?: string; run?: string }[] {
  return workflow.jobs[job].steps;
}

function actionlint(): Promise<string> {
  return buildTool(`${ROOT}tests/actionlint/build.sh`);
}

async function lint(binary: string, path: string) {
  const output = await new Deno.Command(binary, { args: ["-no-color", path], cwd: ROOT }).output();
  return { code: output.code, text: new TextDecoder().decode(output.stdout) };
}

Deno.test("actionlint accepts the release workflow, and rejects a broken copy of it", async () => {
  const binary = await actionlint();
  const good = await lint(binary, WORKFLOW);
  assert.equal(good.code, 0, good.text);
  const dir = await Deno.makeTempDir({ prefix: "kt-actionlint-" });
  try {
    const broken = (await Deno.readTextFile(WORKFLOW)).replace(
      "${{ github.token }}",
      "${{ github.tokn }}",
    );
    await Deno.writeTextFile(`${dir}/release.yml`, broken);
    const bad = await lint(binary, `${dir}/release.yml`);
    assert.equal(bad.code, 1, bad.text);
    assert.match(bad.text, /tokn/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the workflow compiles and releases scripts/compile.ts's targets, with checksums", () => {
  const targets = compileTargets();
  assert.equal(targets.length, 3);
  assert.deepEqual(workflow.on, { push: { tags: ["v*"] } });
  const compile = steps("binaries").find((s) => s.run?.includes("task compile"))!.run!;
  assert.deepEqual([...compile.matchAll(/--target (\S+)/g)].map((m) => m[1]), targets);
  const release = steps("binaries").find((s) => s.run?.includes("gh release create"))!.run!;
  assert.deepEqual(
    [...release.matchAll(/dist\/(\S+)/g)].map((m) => m[1]),
    [...targets.map((t) => `kt-deno-${t}`), "SHA256SUMS"],
  );
  assert.ok(steps("binaries").some((s) => s.run?.includes("sha256sum kt-deno-* > SHA256SUMS")));
});

Deno.test("the images are the Dockerfile's targets for amd64 and arm64, in one registry", async () => {
  const dockerfile = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
  const images = workflow.jobs.images.strategy.matrix.include;
  assert.deepEqual(images, [
    { target: "controller", name: "kt-deno" },
    { target: "worker", name: "kt-deno-worker" },
  ]);
  for (const { target } of images) assert.ok(stages.includes(target), target);
  const build = steps("images").find((s) => s.run?.includes("buildx build"))!.run!;
  assert.match(build, /--platform linux\/amd64,linux\/arm64/);
  assert.match(build, /--tag "\$REGISTRY\/\$NAME:\$\{GITHUB_REF_NAME#v\}" --push/);
  const registry = workflow.env.REGISTRY;
  assert.match(registry, /^[a-z0-9.-]+\.[a-z]+(\/[a-z0-9-]+)*$/);
  const text = await Deno.readTextFile(WORKFLOW);
  assert.equal(text.split(registry).length - 1, 1, "the registry is named once");
});

Deno.test("the README's install section names what a release holds", () => {
  for (const target of compileTargets()) assert.ok(install.includes(`kt-deno-${target}`), target);
  assert.ok(install.includes("SHA256SUMS"));
  const registry = workflow.env.REGISTRY;
  for (const name of ["kt-deno", "kt-deno-worker"]) {
    assert.ok(install.includes(`${registry}/${name}:${version}`), `${registry}/${name}:${version}`);
  }
});
