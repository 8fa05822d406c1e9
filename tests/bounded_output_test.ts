/**
 * Bounded output: a line is cut at 64 KiB with a note and the stream goes on; a task's log
 * keeps its start and its end past its cap, locally as on S3 (the same code).
 */
import assert from "node:assert/strict";
import { capLine, LineCutter, utf8Length } from "../src/async/line_cap.ts";
import { readLines } from "../src/async/lines.ts";
import { LogSink } from "../src/records/log_sink.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";

const encoder = new TextEncoder();

Deno.test("a line longer than the cap is cut with a note; the next lines go on", () => {
  const cutter = new LineCutter(8);
  const out = [
    ...cutter.push(encoder.encode("short\r\n0123456789")),
    ...cutter.push(encoder.encode("abcdef\nnext\n")),
    ...cutter.push(encoder.encode("tail")),
    ...cutter.end(),
  ];
  assert.deepEqual(out, [
    "short",
    "0123 [kt-deno: line cut at 8 bytes: 8 bytes not kept here] cdef",
    "next",
    "tail",
  ]);
});

Deno.test("a cut never splits a UTF-8 character", () => {
  const cutter = new LineCutter(8);
  const [line] = [...cutter.push(encoder.encode("ab€€\n"))]; // € is 3 bytes
  assert.equal(line, "ab€€");
  const [cut] = [...cutter.push(encoder.encode("ab€€x\n"))];
  assert.equal(cut, "ab [kt-deno: line cut at 8 bytes: 3 bytes not kept here] €x");
  assert.equal(capLine("ab€€x", 8), "ab [kt-deno: line cut at 8 bytes: 3 bytes not kept here] €x");
  assert.equal(capLine("ab€€", 8), "ab€€");
  assert.equal(utf8Length("a€😀"), 1 + 3 + 4);
});

Deno.test("readLines of 20 MB in one line keeps its first and last 32 KiB", async () => {
  const size = 20 * 1024 * 1024;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) {
        controller.enqueue(encoder.encode("\nafter\n"));
        return controller.close();
      }
      controller.enqueue(new Uint8Array(1024 * 1024).fill(0x61));
      sent += 1024 * 1024;
    },
  });
  const lines: string[] = [];
  for await (const line of readLines(stream)) lines.push(line);
  assert.equal(lines.length, 2);
  assert.equal(lines[0].length, 64 * 1024 + cutNoteLength(size - 64 * 1024));
  assert.match(
    lines[0],
    /^a{32768} \[kt-deno: line cut at 65536 bytes: 20905984 bytes not kept here\] a{32768}$/,
  );
  assert.equal(lines[1], "after");
});

function cutNoteLength(dropped: number): number {
  return ` [kt-deno: line cut at 65536 bytes: ${dropped} bytes not kept here] `.length;
}

{
  // The same on S3: tests/day_two_s3_test.ts.
  Deno.test("a log past its cap keeps its start and its end (local)", async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-cap-" });
    try {
      const fs = new DataFs(openStorage(dir));
      const sink = new LogSink(fs, { capBytes: 100 });
      for (let i = 0; i < 50; i++) sink.line("logs/a/0.log", `line ${String(i).padStart(2, "0")}`);
      await sink.flush();
      for (let i = 50; i < 60; i++) sink.line("logs/a/0.log", `line ${i}`);
      await sink.close();
      const text = await fs.read("logs/a/0.log");
      assert.equal(
        text,
        [
          "line 00",
          "line 01",
          "line 02",
          "line 03",
          "line 04",
          "line 05",
          "[kt-deno: log cut at 100 bytes: 48 lines (384 bytes) between its start and its end not kept]",
          "line 54",
          "line 55",
          "line 56",
          "line 57",
          "line 58",
          "line 59",
          "",
        ].join("\n"),
      );
      // A later attempt (a retry in a new process) goes on from what is there.
      const again = new LogSink(fs, { capBytes: 100 });
      again.line("logs/a/0.log", "retry");
      await again.close();
      const after = await fs.read("logs/a/0.log");
      assert.match(after, /^line 00\n/);
      assert.match(after, /retry\n$/);
      assert.ok(utf8Length(after) < 200);
      // Under the cap, a local log is appended to.
      const small = new LogSink(fs);
      small.line("logs/b/0.log", "one");
      await small.close();
      small.line("logs/b/0.log", "two");
      await small.close();
      assert.equal(await fs.read("logs/b/0.log"), "one\ntwo\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a command printing 30 MB on one line, then more: the run keeps both, cut", async () => {
  const { dir, path } = await specFile({
    name: "long",
    jobs: [{
      name: "big",
      type: "static",
      tasks: [{
        command: [
          "sh",
          "-c",
          "echo start; head -c 31457280 /dev/zero | tr '\\0' x; echo; echo end; i=0; while [ $i -lt 100000 ]; do echo \"filler line $i with some text to make it longer\"; i=$((i+1)); done; echo last",
        ],
      }],
    }],
  });
  try {
    const result = await ktDeno(["run", path, "--data-dir", "data"], dir);
    assert.equal(result.code, 0, result.stderr);
    const runId = runIdOf(result.stdout);
    const log = await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/logs/big/0.log`);
    const lines = log.split("\n");
    assert.equal(lines[0], "start");
    assert.equal(lines[1].length, 65536 + cutNoteLength(31457280 - 65536));
    assert.equal(lines[2], "end");
    const note =
      /\[kt-deno: log cut at 4194304 bytes: \d+ lines \(\d+ bytes\) between its start and its end not kept\]\n/;
    assert.ok(note.test(log), "the log says what it dropped");
    assert.ok(
      log.endsWith("filler line 99999 with some text to make it longer\nlast\n"),
      "the end",
    );
    assert.ok(log.length <= 4 * 1024 * 1024 + 200, `log of ${log.length} bytes`);
    const logs = await ktDeno(["logs", runId, "big/0", "--data-dir", "data"], dir);
    assert.match(logs.stdout, /^big\[0\] start\n/);
    assert.match(logs.stdout, /big\[0\] last\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
