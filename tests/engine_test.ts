import assert from "node:assert/strict";
import { JobStatus, PipelineRun } from "../src/engine/mod.ts";
import type { Job } from "../src/spec/mod.ts";
import { job, now, statuses } from "./engine_fixtures.ts";

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

Deno.test("a resumed run rebuilds its indexes: ready jobs, waiting dependents, awaiting parents", () => {
  const run = PipelineRun.start("r", {
    name: "p",
    jobs: [job("root", "dynamic"), job("after", "static", ["root"]), job("free", "static")],
  }, now);
  run.advance(now);
  run.succeed("root", [job("c1", "static"), job("c2", "static", ["c1", "free"])], now);
  const resumed = PipelineRun.resume(JSON.parse(JSON.stringify(run.document)));
  assert.deepEqual(resumed.ready(), ["c1"]);
  assert.deepEqual(resumed.running().map((j) => j.name), ["free"]);
  assert.deepEqual(resumed.done, false);
  assert.deepEqual(resumed.advance(now).map((j) => j.name), ["c1"]);
  resumed.succeed("c1", [], now);
  assert.deepEqual(resumed.ready(), [], "c2 still waits for free");
  resumed.succeed("free", [], now);
  assert.deepEqual(resumed.advance(now).map((j) => j.name), ["c2"]);
  assert.deepEqual(resumed.job("root")?.status, JobStatus.AwaitingDescendants);
  resumed.succeed("c2", [], now);
  assert.deepEqual(resumed.job("root")?.status, JobStatus.Completed);
  assert.deepEqual(resumed.advance(now).map((j) => j.name), ["after"]);
  resumed.succeed("after", [], now);
  assert.deepEqual(resumed.done, true);
  assert.deepEqual(resumed.status, "Completed");
});

Deno.test("10,000 jobs in one wave: the document holds each job's own state, the counters end the run", () => {
  const jobs = Array.from({ length: 10_000 }, (_, i) => job(`j-${i}`, "static"));
  const run = PipelineRun.start("r", { name: "wide", jobs: [...jobs, job("last", "static")] }, now);
  const wave = run.advance(now);
  assert.deepEqual(wave.length, 10_001);
  for (const { name } of wave.slice(0, -1)) run.succeed(name, [], now);
  assert.deepEqual(run.done, false);
  assert.deepEqual(Object.keys(run.document.jobs).length, 10_001);
  assert.equal(run.document.jobs["j-42"], run.job("j-42"), "the document's entry is the job");
  assert.deepEqual(run.document.jobs["j-42"].status, JobStatus.Completed);
  run.fail("last", "boom", now);
  assert.deepEqual(run.done, true);
  assert.deepEqual(run.status, "Failed");
});

Deno.test("changedSince lists each job that changed once, in registration order", () => {
  const run = abc();
  const mark = run.version;
  run.advance(now);
  run.fail("job-a", "boom", now);
  assert.deepEqual(run.changedSince(mark).map((j) => [j.name, j.status]), [
    ["job-a", "Failed"],
    ["job-b", "SkippedDueToUpstreamFailure"],
    ["job-c", "SkippedDueToUpstreamFailure"],
  ]);
  assert.deepEqual(run.changedSince(run.version), []);
});

Deno.test("a name returned by two dynamic jobs is registered once; the second job fails naming it", () => {
  const run = PipelineRun.start("r", {
    name: "p",
    jobs: [job("d1", "dynamic"), job("d2", "dynamic"), job("after-d2", "static", ["d2"])],
  }, now);
  run.advance(now);
  assert.deepEqual(run.succeed("d1", [job("twin", "static")], now), true);
  assert.deepEqual(run.succeed("d2", [job("twin", "static"), job("other", "static")], now), true);
  assert.deepEqual(run.job("d2")?.status, JobStatus.Failed);
  assert.match(run.job("d2")?.error ?? "", /Duplicate job name "twin"/);
  assert.deepEqual(run.job("other"), undefined, "nothing of the refused list is registered");
  assert.deepEqual(run.job("twin")?.parent_job, "d1");
  assert.deepEqual(run.job("after-d2")?.status, JobStatus.SkippedDueToUpstreamFailure);
  assert.deepEqual(run.advance(now).map((j) => j.name), ["twin"]);
  run.succeed("twin", [], now);
  assert.deepEqual(run.job("d1")?.status, JobStatus.Completed);
  assert.deepEqual(run.status, "Failed");
});

Deno.test("a dynamic job's list with a name twice, or an unknown dependency, fails the job", () => {
  const run = PipelineRun.start("r", {
    name: "p",
    jobs: [job("d1", "dynamic"), job("d2", "dynamic")],
  }, now);
  run.advance(now);
  run.succeed("d1", [job("x", "static"), job("x", "static")], now);
  assert.match(run.job("d1")?.error ?? "", /Duplicate job name "x" among the jobs it returned/);
  run.succeed("d2", [job("y", "static", ["nowhere"])], now);
  assert.match(run.job("d2")?.error ?? "", /job "y" depends on unknown job "nowhere"/);
  assert.deepEqual(run.jobs().map((j) => j.name), ["d1", "d2"]);
});

Deno.test("a 10,000-job chain listed dependents-first runs and fails without recursion", () => {
  const chain = () =>
    Array.from(
      { length: 10_000 },
      (_, i) => job(`step-${i}`, "static", i < 9_999 ? [`step-${i + 1}`] : []),
    );
  const run = PipelineRun.start("r", { name: "chain", jobs: chain() }, now);
  for (let ready = run.advance(now); ready.length; ready = run.advance(now)) {
    assert.deepEqual(ready.length, 1);
    run.succeed(ready[0].name, [], now);
  }
  assert.deepEqual(run.status, "Completed");
  const failing = PipelineRun.start("r", { name: "chain", jobs: chain() }, now);
  failing.fail(failing.advance(now)[0].name, "boom", now);
  assert.deepEqual(failing.job("step-0")?.status, JobStatus.SkippedDueToUpstreamFailure);
  assert.deepEqual(failing.status, "Failed");
});
