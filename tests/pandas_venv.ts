/**
 * A virtualenv with the Python data stack kube-transform's users bring (pandas and pyarrow
 * from PyPI, pinned), made once in the test cache and shared by every test that needs it:
 *
 * ```ts
 * const python = await pandasPython(); // path of the venv's python, for KT_PYTHON
 * ```
 *
 * Two test files that ask at once each build in a folder of their own and rename it into
 * place; the loser's folder is removed, so the venv is whole or absent, never half made.
 *
 * @module
 */
import { CACHE } from "./cluster/host.ts";

/** The pinned versions: a change makes a new venv beside the old one. */
export const PANDAS_STACK = ["pandas==3.1.1", "pyarrow==26.0.1"];

const VENV = `${CACHE}/python/venv-${PANDAS_STACK.join("-").replaceAll("==", "")}`;

async function run(cmd: string[]): Promise<void> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${cmd.join(" ")} failed (exit ${out.code}):\n${err}`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The venv's `python`, with pandas and pyarrow importable; builds the venv the first time. */
export async function pandasPython(): Promise<string> {
  const python = `${VENV}/bin/python`;
  if (await isFile(`${VENV}/ready`)) return python;
  await Deno.mkdir(`${CACHE}/python`, { recursive: true });
  const building = await Deno.makeTempDir({ dir: `${CACHE}/python`, prefix: "building-" });
  try {
    // A venv's scripts hold its absolute path, so it is made at its own name's sibling and
    // pip runs there; the rename below is within one folder.
    await run([Deno.env.get("KT_PYTHON") ?? "python3", "-m", "venv", building]);
    await run([`${building}/bin/python`, "-m", "pip", "install", "-q", ...PANDAS_STACK]);
    await run([`${building}/bin/python`, "-c", "import pandas, pyarrow"]);
    await Deno.writeTextFile(`${building}/ready`, PANDAS_STACK.join("\n") + "\n");
    try {
      await Deno.rename(building, VENV);
    } catch (error) {
      if (!(await isFile(`${VENV}/ready`))) throw error;
    }
  } finally {
    await Deno.remove(building, { recursive: true }).catch(() => {});
  }
  // The venv was made under another name: its launcher scripts name that folder, but
  // `bin/python` is a symlink to the base interpreter and `pyvenv.cfg` is found beside it,
  // so `python -m ...` works from the new place.
  return python;
}
