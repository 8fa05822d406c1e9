import assert from "node:assert/strict";
import type { JobState, StateDocument } from "../src/engine/state.ts";
import { layoutGraph } from "../src/report/layout.ts";
import { buildModel, LIMITS, shownJobs } from "../src/report/model.ts";
import { renderPage } from "../src/report/page.ts";
import { loadLineage } from "../src/report/lineage.ts";
import {
  type CacheDecision,
  type CacheEntry,
  readDecisions,
  writeDecisions,
  writeEntry,
} from "../src/records/cache.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";

const T = "2026-01-01T00:00:00.000Z";

function job(name: string, fields: Partial<JobState> = {}): JobState {
  return {
    name,
    type: "static",
    memory: "1Gi",
    cpu: "500m",
    dependencies: [],
    tasks: [{ args: {} }],
    status: "Completed",
    attempts: 1,
    submitted_at: T,
    finished_at: T,
    ...fields,
  } as JobState;
}

function doc(jobs: JobState[]): StateDocument {
  return {
    pipeline_run_id: "ktpr0000abcd",
    pipeline_name: "p",
    status: "Failed",
    created_at: T,
    updated_at: T,
    finished_at: T,
    jobs: Object.fromEntries(jobs.map((j) => [j.name, j])),
  };
}

/** A dynamic job `fan` that returned `n` jobs, the 500th of which failed, and a job after it. */
function fanOut(n: number): StateDocument {
  const children = Array.from({ length: n }, (_, i) =>
    job(`c${i}`, {
      parent_job: "fan",
      ...(i === 500 ? { status: "Failed", error: "boom" } : {}),
      ...(i > 0 && i % 2 === 0 ? { dependencies: [`c${i - 1}`] } : {}),
    }));
  return doc([
    job("fan", {
      type: "dynamic",
      status: "DescendantFailed",
      direct_descendants: children.map((c) => c.name),
    }),
    ...children,
    job("after", { dependencies: ["fan"], status: "SkippedDueToUpstreamFailure" }),
  ]);
}

Deno.test("a small run gets a box per job and no summary", () => {
  const model = buildModel(fanOut(10));
  assert.equal(model.boxes.length, 12);
  assert.ok(model.boxes.every((b) => b.kind === "job"));
  assert.deepEqual(model.frames, ["fan"]);
});

Deno.test("a dynamic job's returned jobs beyond the limit fold into one summary box", () => {
  const model = buildModel(fanOut(2000));
  const inFan = model.boxes.filter((b) => b.group === "fan");
  assert.equal(inFan.length, LIMITS.groupBoxes);
  const summary = inFan.find((b) => b.kind === "summary");
  assert.ok(summary?.kind === "summary");
  assert.equal(summary.total, 2000 - (LIMITS.groupBoxes - 1));
  assert.deepEqual(summary.counts, { Completed: summary.total });
  assert.ok(
    inFan.some((b) => b.kind === "job" && b.job === "c500"),
    "the failed job keeps its box",
  );
  // Edges are between boxes: folded jobs' dependencies lead to or from the summary, once.
  const keys = model.edges.map((e) => `${e.from}>${e.to}`);
  assert.equal(new Set(keys).size, keys.length);
  assert.ok(keys.includes("j:fan>j:after"));
  assert.ok(model.edges.every((e) => model.boxes.some((b) => b.id === e.from)));
  assert.ok(model.edges.some((e) => e.to === summary.id || e.from === summary.id));
  assert.equal(model.jobs.length, 2002, "the table still lists every job");
});

Deno.test("nested returned jobs fold with the job that returned them, and the total is capped", () => {
  // 100 dynamic jobs at the top level, each returning 100 jobs: 10,100 jobs.
  const jobs: JobState[] = [];
  for (let d = 0; d < 100; d++) {
    const kids = Array.from({ length: 100 }, (_, i) => job(`d${d}-k${i}`, { parent_job: `d${d}` }));
    jobs.push(
      job(`d${d}`, { type: "dynamic", direct_descendants: kids.map((k) => k.name) }),
      ...kids,
    );
  }
  const state = doc(jobs);
  const shown = shownJobs(state);
  assert.ok(shown.size <= LIMITS.totalBoxes);
  const model = buildModel(state, { shown });
  assert.ok(model.boxes.length <= LIMITS.totalBoxes, `${model.boxes.length} boxes`);
  const counted = model.boxes.reduce((n, b) => n + (b.kind === "summary" ? b.total : 1), 0);
  assert.equal(counted, 10_100, "every job is in exactly one box");
  // A folded dynamic job's returned jobs are counted in the top-level summary.
  const top = model.boxes.find((b) => b.id === "s:");
  const shownTop = model.boxes.filter((b) => b.kind === "job" && b.group === null).length;
  assert.ok(shownTop > 0 && shownTop < 100);
  assert.ok(top?.kind === "summary" && top.total === (100 - shownTop) * 101);
});

Deno.test("a 10,000-job report stays under 10 MB and its layout under the box limit", () => {
  const state = fanOut(10_000);
  const model = buildModel(state);
  const layout = layoutGraph(model);
  assert.equal(layout.boxes.size, model.boxes.length);
  const html = renderPage(model, { version: "test", generatedAt: new Date(T) });
  assert.ok(html.length < 10_000_000, `${html.length} bytes`);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "nothing is loaded from elsewhere");
});

Deno.test("dynamic jobs that fit in a group keep their boxes and their returned jobs", () => {
  const jobs: JobState[] = [];
  for (let d = 0; d < 10; d++) {
    const kids = Array.from({ length: 5 }, (_, i) => job(`d${d}-k${i}`, { parent_job: `d${d}` }));
    jobs.push(
      job(`d${d}`, { type: "dynamic", direct_descendants: kids.map((k) => k.name) }),
      ...kids,
    );
  }
  const model = buildModel(doc(jobs));
  assert.equal(model.boxes.length, 60);
  assert.ok(model.boxes.every((b) => b.kind === "job"));
  assert.equal(model.frames.length, 10);
});

Deno.test("a failed job's task counts come from its task_counts, not from its error's text", () => {
  const five = Array.from({ length: 5 }, () => ({ args: {} }));
  const model = buildModel(doc([
    // What an executor reports now: the counts as data, whatever the error says.
    job("kept", {
      status: "Failed",
      tasks: five,
      error: "task 1: 3 of 4 tasks failed (their own words)",
      task_counts: { failed: 2, not_started: 1 },
    }),
    job("stopped", {
      status: "Failed",
      tasks: five,
      error: "job timed out after 5s",
      task_counts: { failed: 0, not_started: 3 },
    }),
    // A document written before the counts were kept: read from its error, as then.
    job("older", {
      status: "Failed",
      tasks: five,
      error: "2 of 5 tasks failed (1 not started): task 0: boom; task 3: boom",
    }),
    job("whole", { status: "Failed", tasks: five, error: "Job failed: BackoffLimitExceeded" }),
  ]));
  const counts = Object.fromEntries(model.jobs.map((j) => [j.name, j.tasks]));
  assert.deepEqual(counts.kept, { total: 5, done: 2, failed: 2, notStarted: 1 });
  assert.deepEqual(counts.stopped, { total: 5, done: 2, failed: 0, notStarted: 3 });
  assert.deepEqual(counts.older, { total: 5, done: 2, failed: 2, notStarted: 1 });
  assert.deepEqual(counts.whole, { total: 5, done: 0, failed: 0, notStarted: 0 });
});

Deno.test("a report's lineage is capped: tasks per job, files per task, entries read for writers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-report-lineage-" });
  try {
    const fs = new DataFs(openStorage(dir));
    const runId = "ktpr0000abcd";
    const n = 200;
    const entry = (job: string, index: number, reads: string[], writes: string[]): CacheEntry => ({
      key: `${job === "w" ? "a" : "b"}${String(index).padStart(4, "0")}`.padEnd(64, "0"),
      run_id: index % 2 ? runId : "ktpr0000prev",
      job,
      index,
      function: "m.f",
      time: T,
      code: {},
      args_digest: "",
      env_digest: "",
      reads: Object.fromEntries(reads.map((p) => [p, "sha256:1"])),
      lists: {},
      globs: {},
      writes: Object.fromEntries(writes.map((p) => [p, "sha256:2"])),
    });
    const wrote = Array.from({ length: n }, (_, i) => entry("w", i, [`in/${i}`], [`f/${i}`]));
    // Each reader reads 30 files, the first of them written by a task far down `w`.
    const read = Array.from(
      { length: n },
      (_, i) =>
        entry("r", i, [`f/${n - 1 - i}`, ...Array.from({ length: 29 }, (_, j) => `in/z${j}`)], [
          `out/${i}`,
        ]),
    );
    for (const e of [...wrote, ...read]) await writeEntry(fs, e);
    const decide = (es: CacheEntry[]) =>
      es.map((e): CacheDecision => ({
        index: e.index,
        outcome: e.index === 7 ? "ran" : "cached",
        why: e.index === 7 ? "no entry" : "its entry holds",
        key: e.key,
      }));
    await writeDecisions(fs, runId, "w", decide(wrote));
    await writeDecisions(fs, runId, "r", decide(read));
    const state = doc([
      job("w", { tasks: wrote.map(() => ({ args: {} })) }),
      job("r", { dependencies: ["w"], tasks: read.map(() => ({ args: {} })) }),
    ]);
    const decisions = await readDecisions(fs, runId);
    const shown = new Set(["w", "r"]);
    const lineage = await loadLineage(fs, state, shown, decisions, LIMITS);
    const r = lineage.get("r")!;
    assert.deepEqual(r.map((t) => [t.index, t.outcome]), [
      [7, "ran"],
      [0, "cached"],
      [
        1,
        "cached",
      ],
      [2, "cached"],
      [3, "cached"],
    ]);
    assert.equal(lineage.get("w")!.length, LIMITS.lineageTasks);
    assert.equal(r[0].readCount, 30);
    assert.equal(r[0].reads.length, LIMITS.lineageFiles);
    // f/192 was written by w/192, found by reading w's other entries.
    const first = r[0].reads.find((x) => x.path === `f/${n - 1 - 7}`);
    assert.deepEqual(first?.writer, { job: "w", index: 192, run: "ktpr0000prev" });
    assert.equal(r[0].reads.find((x) => x.path === "in/z0")?.writer, undefined);
    assert.deepEqual(r[0].writes, ["out/7"]);
    assert.equal(r[0].entryRun, runId);

    // With a budget of 10 more entries, writers far down `w` are not found; the totals hold.
    const small = { ...LIMITS, lineageWriters: 10, lineageTotal: 6 };
    const capped = await loadLineage(fs, state, shown, decisions, small);
    assert.equal([...capped.values()].flat().length, 6);
    assert.equal(capped.get("r")!.length, 1);
    assert.equal(capped.get("r")![0].reads[0].writer, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
