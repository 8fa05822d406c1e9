/**
 * Builds the single `kt-deno` binary for each release target with `deno compile`.
 *
 *     deno task compile [--target TRIPLE]... [--functions DIR] [--out DIR]
 *
 * `--functions DIR` compiles a folder of task functions in: the binary then finds them by
 * the same lookup as functions on disk. Each binary also carries dist/build_info.json (the
 * commit it was built from), which `kt-deno version` prints.
 *
 * `deno compile` downloads the Deno runtime for each target from Deno's servers; set
 * DENORT_BIN to a local runtime binary to build without that download.
 *
 * @module
 */
import { relative, resolve } from "node:path";
import { parseArgs } from "node:util";

/** The targets a release is built for. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "aarch64-apple-darwin",
];

const root = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", multiple: true },
    functions: { type: "string" },
    out: { type: "string", default: `${root}dist` },
  },
});

async function git(...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", { args, cwd: root, stderr: "null" }).output().catch(
    () => null,
  );
  return output?.success ? new TextDecoder().decode(output.stdout).trim() : "unknown";
}

const commit = await git("rev-parse", "--short=12", "HEAD");
await Deno.mkdir(`${root}dist`, { recursive: true });
const functions = values.functions
  ? relative(root, resolve(values.functions)).replaceAll("\\", "/")
  : undefined;
if (functions?.startsWith("..")) {
  console.error(`--functions must be inside the repository (${root}), got ${values.functions}`);
  Deno.exit(2);
}
await Deno.writeTextFile(
  `${root}dist/build_info.json`,
  JSON.stringify({ commit, ...(functions ? { functions } : {}) }) + "\n",
);

for (const target of values.target ?? TARGETS) {
  const output = `${values.out}/kt-deno-${target}`;
  const args = [
    "compile",
    "-A",
    "--target",
    target,
    "--output",
    output,
    "--include",
    `${root}dist/build_info.json`,
    ...(values.functions ? ["--include", values.functions] : []),
    `${root}main.ts`,
  ];
  console.log(`deno ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "inherit",
  })
    .spawn().status;
  if (!status.success) Deno.exit(status.code || 1);
}
