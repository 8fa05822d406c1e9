import type { JobSpec, TaskContext } from "../../../src/mod.ts";

/** Lists the input folder and returns one static job with a task per file. */
export async function plan(
  args: { input_dir: string; output_dir: string },
  ctx: TaskContext,
): Promise<JobSpec[]> {
  const files = await ctx.fs.listdir(args.input_dir);
  ctx.log(`planning ${files.length} files`);
  return [{
    name: "prepend",
    type: "static",
    tasks: files.map((file) => ({
      function: "hello.prepend",
      args: {
        input: ctx.fs.join(args.input_dir, file),
        output: ctx.fs.join(args.output_dir, file),
      },
    })),
  }];
}

/** Writes `output`: the text of `input` with "Hello World: " before every line. */
export async function prepend(
  args: { input: string; output: string },
  ctx: TaskContext,
): Promise<void> {
  const text = await ctx.fs.read(args.input);
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  const lines = body.split("\n").map((line) => `Hello World: ${line}`);
  await ctx.fs.write(args.output, lines.join("\n") + "\n");
}
