import assert from "node:assert/strict";
import { JobStatus, PipelineRun } from "../src/engine/mod.ts";
import type { Job } from "../src/spec/mod.ts";

const now = new Date("2026-01-01T00:00:00Z");

function job(name: string, type: "static" | "dynamic", dependencies: string[] = []): Job {
  const base = { name, type, memory: "1Gi", cpu: "500m", dependencies };
  return type === "static"
    ? { ...base, tasks: [{ function: "m.f", args: {} }] }
    : { ...base, function: "m.spawn", args: {} };
}

/** kube-transform's own test pipeline: a (dynamic) -> b -> c. */
function abc(): PipelineRun {
  return PipelineRun.start("ktpr00000001", {
    name: "p",
    jobs: [
      job("job-a", "dynamic"),
      job("job-b", "static", ["job-a"]),
      job("job-c", "static", [
        "job-b",
      ]),
    ],
  }, now);
}

function statuses(run: PipelineRun): Record<string, string> {
  return Object.fromEntries(run.jobs().map((j) => [j.name, j.status]));
}

Deno.test("scenario 1: at the start only job-a is ready", () => {
  assert.deepEqual(abc().ready(), ["job-a"]);
});

Deno.test("scenario 2: completing a, b, c makes exactly the next one ready each time", () => {
  const run = abc();
  for (const [name, next] of [["job-a", ["job-b"]], ["job-b", ["job-c"]], ["job-c", []]] as const) {
    assert.deepEqual(run.advance(now).map((j) => j.name), [name]);
    assert.deepEqual(run.done, false);
    run.succeed(name, [], now);
    assert.deepEqual(run.ready(), [...next]);
  }
  assert.deepEqual(run.done, true);
  assert.deepEqual(run.status, "Completed");
});

Deno.test("scenario 3: job-a fails, b and c are skipped, run done", () => {
  const run = abc();
  run.advance(now);
  run.fail("job-a", "boom", now);
  assert.deepEqual(statuses(run), {
    "job-a": "Failed",
    "job-b": "SkippedDueToUpstreamFailure",
    "job-c": "SkippedDueToUpstreamFailure",
  });
  assert.deepEqual(run.done, true);
  assert.deepEqual(run.status, "Failed");
  assert.deepEqual(run.job("job-a")?.error, "boom");
});

Deno.test("scenario 4: a spawns a2, a2 fails: a DescendantFailed, b and c skipped", () => {
  const run = abc();
  run.advance(now);
  run.succeed("job-a", [job("job-a2", "static")], now);
  assert.deepEqual(run.job("job-a")?.status, JobStatus.AwaitingDescendants);
  assert.deepEqual(run.job("job-a")?.direct_descendants, ["job-a2"]);
  assert.deepEqual(run.job("job-a2")?.parent_job, "job-a");
  assert.deepEqual(run.advance(now).map((j) => j.name), ["job-a2"]);
  run.fail("job-a2", "boom", now);
  assert.deepEqual(statuses(run), {
    "job-a": "DescendantFailed",
    "job-b": "SkippedDueToUpstreamFailure",
    "job-c": "SkippedDueToUpstreamFailure",
    "job-a2": "Failed",
  });
  assert.deepEqual(run.done, true);
});

Deno.test("a dynamic job whose descendant is dynamic completes only when the grandchild does", () => {
  const run = PipelineRun.start("r", {
    name: "p",
    jobs: [job("root", "dynamic"), job("after", "static", ["root"])],
  }, now);
  run.advance(now);
  run.succeed("root", [job("child", "dynamic")], now);
  run.advance(now);
  run.succeed("child", [job("leaf-1", "static"), job("leaf-2", "static", ["leaf-1"])], now);
  assert.deepEqual(run.job("child")?.status, JobStatus.AwaitingDescendants);
  assert.deepEqual(run.advance(now).map((j) => j.name), ["leaf-1"]);
  run.succeed("leaf-1", [], now);
  assert.deepEqual(run.advance(now).map((j) => j.name), ["leaf-2"]);
  assert.deepEqual(run.job("root")?.status, JobStatus.AwaitingDescendants);
  run.succeed("leaf-2", [], now);
  assert.deepEqual(run.job("child")?.status, JobStatus.Completed);
  assert.deepEqual(run.job("root")?.status, JobStatus.Completed);
  assert.deepEqual(run.advance(now).map((j) => j.name), ["after"]);
  run.succeed("after", [], now);
  assert.deepEqual(run.status, "Completed");
});

Deno.test("a failure deep in a descendant tree marks every ancestor and skips their dependents", () => {
  const run = PipelineRun.start("r", {
    name: "p",
    jobs: [job("root", "dynamic"), job("after", "static", ["root"]), job("free", "static")],
  }, now);
  run.advance(now);
  run.succeed("root", [job("mid", "dynamic"), job("sibling", "static")], now);
  run.advance(now);
  run.succeed("mid", [job("deep", "static"), job("deep-next", "static", ["deep"])], now);
  run.succeed("sibling", [], now);
  run.advance(now);
  run.fail("deep", "exit code 3", now);
  assert.deepEqual(statuses(run), {
    root: "DescendantFailed",
    after: "SkippedDueToUpstreamFailure",
    free: "Running",
    mid: "DescendantFailed",
    sibling: "Completed",
    deep: "Failed",
    "deep-next": "SkippedDueToUpstreamFailure",
  });
  assert.deepEqual(run.done, false);
  run.succeed("free", [], now);
  assert.deepEqual(run.done, true);
  assert.deepEqual(run.status, "Failed");
});

Deno.test("an empty pipeline is done and Completed at once", () => {
  const run = PipelineRun.start("r", { name: "empty", jobs: [] }, now);
  assert.deepEqual(run.done, true);
  assert.deepEqual(run.status, "Completed");
  assert.deepEqual(run.advance(now), []);
});

Deno.test("a diamond runs the join only after both sides", () => {
  const run = PipelineRun.start("r", {
    name: "p",
    jobs: [
      job("top", "static"),
      job("left", "static", ["top"]),
      job("right", "static", ["top"]),
      job("join", "static", ["left", "right"]),
    ],
  }, now);
  run.advance(now);
  run.succeed("top", [], now);
  assert.deepEqual(run.advance(now).map((j) => j.name), ["left", "right"]);
  run.succeed("left", [], now);
  assert.deepEqual(run.ready(), []);
  run.succeed("right", [], now);
  assert.deepEqual(run.advance(now).map((j) => j.name), ["join"]);
  run.succeed("join", [], now);
  assert.deepEqual(run.status, "Completed");
});

Deno.test("no-op jobs complete at once and unblock their dependents", () => {
  const noop: Job = {
    name: "noop",
    type: "static",
    memory: "1Gi",
    cpu: "1",
    dependencies: [],
    tasks: [],
  };
  const run = PipelineRun.start(
    "r",
    { name: "p", jobs: [noop, job("next", "static", ["noop"])] },
    now,
  );
  assert.deepEqual(run.advance(now).map((j) => j.name), ["next"]);
  assert.deepEqual(run.job("noop")?.status, JobStatus.Completed);
});

Deno.test("the same completion twice changes nothing", () => {
  const run = abc();
  run.advance(now);
  assert.deepEqual(run.succeed("job-a", [job("job-a2", "static")], now), true);
  const before = JSON.stringify(run.document);
  assert.deepEqual(run.succeed("job-a", [job("job-a2", "static")], now), false);
  assert.deepEqual(run.fail("job-a", "late", now), false);
  assert.deepEqual(JSON.stringify(run.document), before);
});

Deno.test("a run resumed from its document carries on", () => {
  const run = abc();
  run.advance(now);
  const resumed = PipelineRun.resume(JSON.parse(JSON.stringify(run.document)));
  assert.deepEqual(resumed.running().map((j) => j.name), ["job-a"]);
  resumed.succeed("job-a", [], now);
  assert.deepEqual(resumed.advance(now).map((j) => j.name), ["job-b"]);
  assert.deepEqual(resumed.job("job-b")?.attempts, 1);
});

Deno.test("interrupting fails running jobs and marks the run Interrupted", () => {
  const run = abc();
  run.advance(now);
  run.interrupt("SIGINT", now);
  assert.deepEqual(run.job("job-a")?.status, JobStatus.Failed);
  assert.deepEqual(run.job("job-a")?.error, "interrupted: SIGINT");
  assert.deepEqual(run.status, "Interrupted");
  assert.deepEqual(run.done, true);
});
