/**
 * The process node's image map: what an image name means on this machine, since no image
 * is pulled. An entry names a host folder to mount at `/app` and the programs to put on
 * PATH; the entry `"*"` applies to images the map does not name (host tools only, when
 * empty). An image that matches nothing leaves its pod Pending with ErrImageNeverPull.
 *
 * ```json
 * { "kt-worker:test": { "app": "/work/fixture-app", "bin": { "kt-deno": "/work/bin/kt-deno" } },
 *   "*": {} }
 * ```
 *
 * @module
 */

/** What one image is on this machine. */
export interface ImageEntry {
  /** Host folder bind-mounted at /app in the pod. */
  app?: string;
  /** Program name → host path, put on PATH in the pod. */
  bin?: Record<string, string>;
}

/** Image name → entry. */
export type ImageMap = Record<string, ImageEntry>;

/** The entry for an image, or undefined when the map has neither it nor "*". */
export function lookupImage(map: ImageMap, image: string): ImageEntry | undefined {
  return map[image] ?? map["*"];
}
