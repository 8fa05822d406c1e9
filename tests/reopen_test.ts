/**
 * The pure parts of operating runs: reopening a state document for `resume`, cancelling
 * one, liveness from a heartbeat, and how a skipped descendant spreads.
 */
import assert from "node:assert/strict";
import { PipelineRun } from "../src/engine/pipeline_run.ts";
import { cancelRun, reopenRun, resumeRefusal } from "../src/engine/reopen.ts";
import { formatDuration, heartbeatOf, livenessOf } from "../src/records/heartbeat.ts";
import { failedTasks } from "../src/records/failures.ts";

import { job, now, statuses } from "./engine_fixtures.ts";

/** plan (dynamic) returns child; after depends on plan; apart stands alone. */
function failedRun(): PipelineRun {
  const run = PipelineRun.start("ktpr00000001", {
    name: "p",
    jobs: [job("plan", "dynamic"), job("after", "static", ["plan"]), job("apart", "static")],
  }, now);
  run.advance(now);
  run.succeed("apart", [], now);
  run.succeed("plan", [job("child", "static")], now);
  run.advance(now);
  run.fail("child", "boom", now);
  return run;
}

Deno.test("reopen: Completed jobs stay, the dynamic job waits for its kept descendants, the rest rerun", () => {
  const run = failedRun();
  assert.deepEqual(statuses(run), {
    plan: "DescendantFailed",
    after: "SkippedDueToUpstreamFailure",
    apart: "Completed",
    child: "Failed",
  });
  assert.equal(run.status, "Failed");
  const reopened = PipelineRun.resume(reopenRun(run.document, now));
  assert.equal(reopened.status, "Running");
  assert.equal(reopened.document.finished_at, undefined);
  assert.deepEqual(statuses(reopened), {
    plan: "AwaitingDescendants",
    after: "Pending",
    apart: "Completed",
    child: "Pending",
  });
  assert.equal(reopened.job("child")?.error, undefined);
  assert.deepEqual(reopened.job("plan")?.direct_descendants, ["child"]);
  assert.deepEqual(reopened.advance(now).map((j) => j.name), ["child"]);
  reopened.succeed("child", [], now);
  assert.equal(reopened.job("plan")?.status, "Completed");
  assert.deepEqual(reopened.advance(now).map((j) => j.name), ["after"]);
  reopened.succeed("after", [], now);
  assert.equal(reopened.status, "Completed");
  assert.deepEqual(
    Object.fromEntries(reopened.jobs().map((j) => [j.name, j.attempts])),
    { plan: 1, after: 1, apart: 1, child: 2 },
  );
});

Deno.test("reopen: an abandoned Running job and a never-started job run again", () => {
  const run = PipelineRun.start("ktpr00000002", {
    name: "p",
    jobs: [job("a", "static"), job("b", "static", ["a"])],
  }, now);
  run.advance(now);
  const reopened = PipelineRun.resume(reopenRun(run.document, now));
  assert.deepEqual(statuses(reopened), { a: "Pending", b: "Pending" });
  assert.deepEqual(reopened.advance(now).map((j) => j.name), ["a"]);
  assert.equal(reopened.job("a")?.attempts, 2);
});

Deno.test("resume is refused for a Completed run and a live one", () => {
  const done = PipelineRun.start("ktpr00000003", { name: "p", jobs: [] }, now).document;
  assert.match(resumeRefusal(done, false)!, /already Completed/);
  const running = PipelineRun.start("ktpr00000004", { name: "p", jobs: [job("a", "static")] }, now)
    .document;
  assert.match(resumeRefusal(running, true)!, /still running/);
  assert.equal(resumeRefusal(running, false), null);
  assert.equal(resumeRefusal(failedRun().document, false), null);
});

Deno.test("cancel: running and interrupted jobs say cancelled, pending ones stay, the run is Cancelled", () => {
  const run = PipelineRun.start("ktpr00000005", {
    name: "p",
    jobs: [job("a", "static"), job("b", "static", ["a"]), job("c", "static")],
  }, now);
  run.advance(now);
  run.succeed("c", [], now);
  const doc = cancelRun(run.document, "by kt-deno cancel", now);
  assert.equal(doc.status, "Cancelled");
  assert.equal(doc.finished_at, now.toISOString());
  assert.equal(doc.jobs.a.status, "Failed");
  assert.equal(doc.jobs.a.error, "cancelled: by kt-deno cancel");
  assert.equal(doc.jobs.b.status, "Pending");
  assert.equal(doc.jobs.c.status, "Completed");
  run.interrupt("SIGTERM", now);
  const fromInterrupted = cancelRun(run.document, "by kt-deno cancel", now);
  assert.equal(fromInterrupted.jobs.a.error, "cancelled: by kt-deno cancel");
  assert.equal(fromInterrupted.status, "Cancelled");
});

Deno.test("a skipped descendant makes its parent DescendantFailed, so the parent's dependents are skipped and the run ends", () => {
  // plan returns x, which depends on the top-level job q; q fails, so x is skipped.
  // kube-transform left plan AwaitingDescendants and its dependent Pending forever.
  const run = PipelineRun.start("ktpr00000006", {
    name: "p",
    jobs: [job("plan", "dynamic"), job("q", "static"), job("after", "static", ["plan"])],
  }, now);
  run.advance(now);
  run.succeed("plan", [job("x", "static", ["q"])], now);
  run.fail("q", "boom", now);
  assert.deepEqual(statuses(run), {
    plan: "DescendantFailed",
    q: "Failed",
    after: "SkippedDueToUpstreamFailure",
    x: "SkippedDueToUpstreamFailure",
  });
  assert.equal(run.done, true);
  assert.equal(run.status, "Failed");
});

Deno.test("liveness: a stale heartbeat or an exited local launcher means gone", () => {
  const doc = PipelineRun.start("ktpr00000007", { name: "p", jobs: [job("a", "static")] }, now)
    .document;
  const beat = heartbeatOf(doc, { role: "launcher", pid: 42, host: "h" }, now);
  const later = (s: number) => new Date(now.getTime() + s * 1000);
  assert.deepEqual(livenessOf(beat, later(59), 60_000, "other", () => true), { alive: true });
  assert.deepEqual(livenessOf(beat, later(180), 60_000, "other", () => true), {
    alive: false,
    why: "no heartbeat for 3m: launcher gone?",
  });
  assert.deepEqual(livenessOf(beat, later(1), 60_000, "h", () => false), {
    alive: false,
    why: "launcher gone: process 42 on this host has exited",
  });
  assert.deepEqual(livenessOf(null, later(1000), 60_000, "h", () => false), { alive: true });
  assert.equal(formatDuration(45_000), "45s");
  assert.equal(formatDuration(7_500_000), "2h5m");
});

Deno.test("the failed tasks of a job are those kept with it, not read back from its error", () => {
  const two = [{ args: {} }, { args: {} }, { args: {} }];
  assert.deepEqual(
    failedTasks({ type: "static", tasks: two, failed_tasks: [0, 2] }),
    [0, 2],
  );
  assert.deepEqual(failedTasks({ type: "static", tasks: two }), []);
  assert.deepEqual(failedTasks({ type: "static", tasks: [{ args: {} }] }), [0]);
  assert.deepEqual(failedTasks({ type: "dynamic" }), [0]);
});
