/**
 * The report page: one HTML file with its CSS, script, graph and timeline inline, that
 * fetches nothing (its Content-Security-Policy forbids it) and so opens from `file://`
 * with no network.
 *
 * @module
 */
import { dagSvg } from "./dag_svg.ts";
import { escapeHtml as esc, scriptJson } from "./escape.ts";
import { layoutGraph } from "./layout.ts";
import type { JobView, ReportModel } from "./model.ts";
import { PAGE_SCRIPT } from "./page_script.ts";
import { shortStatus, STATUS_COLORS } from "./statuses.ts";
import { between, formatDuration, formatTime } from "./time_format.ts";
import { timelineSvg } from "./timeline_svg.ts";

const CSS = `
:root { color-scheme: light; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #fafafa; }
header, section { padding: 12px 24px; }
header { background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 4px 0 8px; }
h2 { font-size: 16px; margin: 8px 0; }
h3 { font-size: 15px; margin: 0 0 8px; word-break: break-all; }
h4 { font-size: 13px; margin: 12px 0 4px; }
.run { display: flex; flex-wrap: wrap; gap: 4px 28px; margin: 0; }
.run div { display: flex; gap: 6px; }
.run dt { color: var(--muted); }
.run dd { margin: 0; font-weight: 600; }
.run-status { padding: 0 8px; border-radius: 10px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; list-style: none; padding: 0; margin: 4px 0 10px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 5px; vertical-align: -1px; border: 1px solid #0002; }
.scroll { overflow: auto; max-height: 78vh; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.note { color: var(--muted); margin: 4px 0 8px; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", sans-serif; fill: #111827; }
#dag .frame { fill: #f3f4f6; stroke: #9ca3af; stroke-dasharray: 5 4; }
#dag .edge { fill: none; stroke: #6b7280; stroke-width: 1.4; }
#dag .edge.returned { stroke: #9ca3af; stroke-dasharray: 4 3; }
#dag .box { cursor: pointer; outline: none; }
#dag .box rect:first-child { stroke: #0003; }
#dag .box .name { font-weight: 600; }
#dag .box .status, #dag .box .tasks { font-size: 11px; fill: #374151; }
#dag .summary-bg { fill: #fff; stroke: #6b7280 !important; stroke-dasharray: 4 3; }
#dag .box:hover rect:first-child, #dag .box:focus rect:first-child { stroke: #111827; stroke-width: 2; }
#dag .box:focus-visible rect:first-child, #dag .box.selected rect:first-child { stroke: #1d4ed8; stroke-width: 3; }
#timeline .axis line { stroke: #eef0f3; }
#timeline .axis text { fill: var(--muted); font-size: 11px; text-anchor: middle; }
#timeline .label { text-anchor: end; font-size: 11px; }
#timeline .label.task { fill: var(--muted); }
#timeline .row { cursor: pointer; }
#timeline .row:hover .bar { stroke: #111827; }
#timeline .row.open .bar { stroke: #1d4ed8; stroke-dasharray: 3 2; }
#timeline .task-bar.ok { fill: #34a853; }
#timeline .task-bar.failed { fill: #d93025; }
#details { position: fixed; right: 16px; bottom: 16px; width: min(420px, 92vw); max-height: 70vh; overflow: auto; background: #fff; border: 1px solid #9ca3af; border-radius: 8px; padding: 12px 14px; box-shadow: 0 6px 24px #0003; }
#details.pinned { border-color: #1d4ed8; }
#details-close { float: right; }
.facts th { text-align: left; color: var(--muted); font-weight: normal; padding-right: 12px; vertical-align: top; }
pre { background: #f3f4f6; padding: 8px; border-radius: 4px; overflow: auto; white-space: pre-wrap; word-break: break-word; font-size: 12px; margin: 0; }
pre.error { background: #fdecea; }
.failure { margin-bottom: 14px; }
.controls { display: flex; gap: 10px; align-items: center; margin-bottom: 8px; flex-wrap: wrap; }
table.jobs { border-collapse: collapse; width: 100%; background: #fff; }
table.jobs th, table.jobs td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
table.jobs th { background: #f3f4f6; position: sticky; top: 0; }
table.jobs td.err { max-width: 520px; overflow-wrap: anywhere; color: #991b1b; }
table.jobs tbody tr:hover { background: #eff6ff; cursor: pointer; }
.empty { color: var(--muted); }
details.lineage { border-top: 1px solid var(--line); padding: 4px 0; }
details.lineage summary { cursor: pointer; }
details.lineage .why { color: var(--muted); overflow-wrap: anywhere; }
.outcome { padding: 0 6px; border-radius: 8px; font-size: 12px; }
.outcome.cached { background: #dbeafe; }
.outcome.ran { background: #fef3c7; }
details.lineage ul { margin: 2px 0 6px; padding-left: 18px; }
details.lineage code { font-size: 12px; overflow-wrap: anywhere; }
details.lineage .writer { color: var(--muted); }
`;

const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'";

/** Where the page came from, for its header. */
export interface PageInfo {
  /** The kt-deno version that made the report. */
  version: string;
  generatedAt: Date;
}

function failures(model: ReportModel): string {
  const failed = model.jobs.filter((j) => j.logs?.length);
  if (failed.length === 0) return "";
  const items = failed.map((job) =>
    `<div class="failure" data-job="${esc(job.name)}"><h3>${esc(job.name)}</h3>` +
    (job.error ? `<pre class="error">${esc(job.error)}</pre>` : "") +
    job.logs!.map((log) =>
      `<h4>Task ${log.index}: last ${log.lines.length} lines of its log</h4><pre class="log" data-job="${
        esc(job.name)
      }" data-index="${log.index}">${esc(log.lines.join("\n"))}</pre>`
    ).join("") + `</div>`
  ).join("");
  return `<section id="failures"><h2>Failed tasks</h2>${items}</section>`;
}

function withoutTimes({ times: _times, ...job }: JobView): Omit<JobView, "times"> {
  return job;
}

/** The whole page of a report. */
export function renderPage(model: ReportModel, info: PageInfo): string {
  const { doc } = model;
  const layout = layoutGraph(model);
  const counts: Record<string, number> = {};
  for (const job of model.jobs) counts[job.status] = (counts[job.status] ?? 0) + 1;
  const legend = Object.entries(STATUS_COLORS).map(([status, color]) =>
    `<li data-status="${status}"><span class="swatch" style="background:${color}"></span>${
      esc(shortStatus(status))
    } <span class="count">${counts[status] ?? 0}</span></li>`
  ).join("");
  const folded = model.boxes.filter((b) => b.kind === "summary");
  const foldedJobs = folded.reduce((n, b) => n + (b.kind === "summary" ? b.total : 0), 0);
  const duration = between(doc.created_at, doc.finished_at ?? doc.updated_at);
  const runStatusColor = doc.status === "Completed"
    ? STATUS_COLORS.Completed
    : doc.status === "Running"
    ? STATUS_COLORS.Running
    : doc.status === "Failed"
    ? STATUS_COLORS.Failed
    : STATUS_COLORS.SkippedDueToUpstreamFailure; // stopped: Interrupted, Cancelled
  const fact = (k: string, v: string, attr = "") => `<div><dt>${k}</dt><dd${attr}>${v}</dd></div>`;
  const data = {
    run: { id: doc.pipeline_run_id, pipeline: doc.pipeline_name, status: doc.status },
    colors: STATUS_COLORS,
    // Without their task times (the timeline has them); most jobs have none to leave out.
    jobs: model.jobs.map((job) => job.times ? withoutTimes(job) : job),
    summaries: Object.fromEntries(folded.map((b) => [b.id, b])),
  };
  const statusOptions = Object.keys(STATUS_COLORS).map((s) =>
    `<option value="${s}">${esc(shortStatus(s))}</option>`
  ).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="kt-deno ${esc(info.version)}">
<title>${esc(doc.pipeline_name)} · ${esc(doc.pipeline_run_id)} · ${esc(doc.status)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(doc.pipeline_name)}</h1>
<dl class="run">
${fact("run", esc(doc.pipeline_run_id), ` id="run-id"`)}
${
    fact(
      "status",
      esc(doc.status),
      ` id="run-status" class="run-status" style="background:${runStatusColor}"`,
    )
  }
${fact("started", formatTime(doc.created_at), ` id="run-start"`)}
${fact("ended", doc.finished_at ? formatTime(doc.finished_at) : "—", ` id="run-end"`)}
${
    fact(
      "duration",
      duration === undefined ? "—" : formatDuration(duration) + (doc.finished_at ? "" : " so far"),
      ` id="run-duration"`,
    )
  }
${fact("jobs", model.jobs.length.toLocaleString("en-US"), ` id="run-jobs"`)}
${fact("kt-deno", esc(doc.kt_version ?? "unknown"), ` id="run-version"`)}
</dl>
<p class="note">Report made ${formatTime(info.generatedAt.toISOString())} by kt-deno ${
    esc(info.version)
  }.</p>
</header>
<section id="graph">
<h2>Jobs and dependencies</h2>
<ul class="legend" aria-label="job statuses">${legend}</ul>
<p class="note">An arrow goes from a job to the jobs that wait for it; a dashed frame holds a dynamic job and the jobs it returned.${
    folded.length
      ? ` ${foldedJobs.toLocaleString("en-US")} jobs are folded into ${folded.length} summary box${
        folded.length === 1 ? "" : "es"
      } (each group shows at most ${model.limits.groupBoxes} boxes, the graph ${model.limits.totalBoxes}); the table lists every job.`
      : ""
  } Hover, click or press Enter on a box for its details.</p>
<div class="controls" role="group" aria-label="zoom"><button type="button" id="zoom-out" aria-label="zoom out">−</button><button type="button" id="zoom-fit">Fit</button><button type="button" id="zoom-in" aria-label="zoom in">+</button><span id="zoom-level" class="note">100%</span></div>
<div class="scroll" id="dag-scroll">${dagSvg(model, layout)}</div>
</section>
<section id="timeline-section">
<h2>Timeline</h2>
<p class="note">Each bar runs from the time a job was submitted to the time it finished; thin bars are the tasks of jobs with at most ${model.limits.taskBars} tasks.</p>
<div class="scroll">${timelineSvg(model)}</div>
</section>
${failures(model)}
<section id="jobs">
<h2>Jobs</h2>
<div class="controls">
<label>Filter <input id="job-filter" type="search" placeholder="name or error"></label>
<label>Status <select id="status-filter"><option value="">any</option>${statusOptions}</select></label>
<span id="jobs-count" class="note"></span>
</div>
<table id="jobs-table" class="jobs">
<thead><tr><th>Job</th><th>Type</th><th>Status</th><th>Attempts</th><th>Retries</th><th>Duration</th><th>Error</th></tr></thead>
<tbody></tbody>
</table>
<p><button type="button" id="show-all" hidden>Show all</button></p>
</section>
<aside id="details" hidden aria-live="polite"><button type="button" id="details-close" aria-label="close">×</button><div id="details-body"></div></aside>
<script type="application/json" id="kt-data">${scriptJson(data)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
