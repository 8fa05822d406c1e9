/**
 * A worker "image" for the process node: a folder with task functions to mount at /app
 * (as /app/kt_functions) and a `kt-deno` on PATH that runs this checkout through
 * `deno run`. The image-map entries it returns name it, and the controller image of this
 * version.
 *
 * @module
 */
import { VERSION } from "../../src/version.ts";
import { copy } from "../copy.ts";
import type { ImageMap } from "./image_map.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** A worker image folder, its image-map entries, and how to remove it. */
export interface WorkerImage {
  root: string;
  imageMap: ImageMap;
  remove(): Promise<void>;
}

/** Makes a worker image named `image` whose functions are the files of `functionDirs`. */
export async function makeWorkerImage(image: string, functionDirs: string[]): Promise<WorkerImage> {
  const root = await Deno.makeTempDir({ prefix: "kt-image-" });
  for (const dir of functionDirs) await copy(dir, `${root}/app/kt_functions`);
  await Deno.writeTextFile(
    `${root}/kt-deno`,
    `#!/bin/sh\nexec ${Deno.execPath()} run -A --quiet --config ${ROOT}deno.json ${ROOT}main.ts "$@"\n`,
  );
  await Deno.chmod(`${root}/kt-deno`, 0o755);
  const bin = { "kt-deno": `${root}/kt-deno` };
  return {
    root,
    imageMap: { [image]: { app: `${root}/app`, bin }, [`kt-deno:${VERSION}`]: { bin } },
    remove: () => Deno.remove(root, { recursive: true }),
  };
}
