/**
 * The run's graph as SVG markup: a box per job (or per summary of folded jobs) coloured by
 * status, frames around dynamic jobs and the jobs they returned, arrows for dependencies.
 *
 * @module
 */
import { escapeHtml as esc } from "./escape.ts";
import { BOX, type Layout } from "./layout.ts";
import type { Box, JobView, ReportModel } from "./model.ts";
import { shortStatus, STATUS_COLORS, statusColor } from "./statuses.ts";

const NAME_CHARS = 26;

function clip(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}

/** The third line of a job's box: its tasks, or what a dynamic job returned. */
export function taskLine(job: JobView): string {
  if (job.type === "dynamic") {
    return job.returned === undefined
      ? "dynamic"
      : `dynamic · returned ${plural(job.returned, "job")}`;
  }
  const { total, done, failed, notStarted } = job.tasks;
  if (total === 0) return "no tasks";
  return `${plural(total, "task")}: ${done} done${failed ? `, ${failed} failed` : ""}${
    notStarted ? `, ${notStarted} not started` : ""
  }`;
}

function path(points: { x: number; y: number }[]): string {
  const f = (n: number) => Math.round(n * 10) / 10;
  if (points.length < 3) return `M${points.map((p) => `${f(p.x)},${f(p.y)}`).join(" L")}`;
  let d = `M${f(points[0].x)},${f(points[0].y)}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i], q = points[i + 1];
    const end = i === points.length - 2 ? q : { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
    d += ` Q${f(p.x)},${f(p.y)} ${f(end.x)},${f(end.y)}`;
  }
  return d;
}

function jobBox(box: Extract<Box, { kind: "job" }>, job: JobView, x: number, y: number): string {
  const label = `${job.name}, ${job.type} job, ${job.status}, ${taskLine(job)}`;
  return `<g class="box job" data-id="${esc(box.id)}" data-job="${esc(job.name)}" data-status="${
    esc(job.status)
  }" tabindex="0" role="button" aria-label="${esc(label)}" transform="translate(${Math.round(x)},${
    Math.round(y)
  })">` +
    `<rect width="${BOX.width}" height="${BOX.height}" rx="6" fill="${statusColor(job.status)}"/>` +
    `<text class="name" x="10" y="19">${esc(clip(job.name, NAME_CHARS))}</text>` +
    `<text class="status" x="10" y="35">${esc(shortStatus(job.status))}</text>` +
    `<text class="tasks" x="10" y="50">${esc(taskLine(job))}</text></g>`;
}

function summaryBox(box: Extract<Box, { kind: "summary" }>, x: number, y: number): string {
  const order = Object.keys(STATUS_COLORS).filter((s) => box.counts[s]);
  const other = Object.keys(box.counts).filter((s) => !(s in STATUS_COLORS));
  const width = BOX.width - 20;
  let at = 10;
  const bar = [...order, ...other].map((status) => {
    const w = (box.counts[status] / box.total) * width;
    const rect = `<rect x="${at.toFixed(1)}" y="27" width="${w.toFixed(1)}" height="8" fill="${
      statusColor(status)
    }"/>`;
    at += w;
    return rect;
  }).join("");
  const counts = [...order, ...other].map((s) => `${box.counts[s]} ${shortStatus(s)}`).join(", ");
  const where = box.group ? `returned by ${box.group}` : "at the top level";
  const label = `${plural(box.total, "more job")} ${where}: ${counts}`;
  return `<g class="box summary" data-id="${esc(box.id)}" data-group="${
    esc(box.group ?? "")
  }" data-total="${box.total}" tabindex="0" role="button" aria-label="${
    esc(label)
  }" transform="translate(${Math.round(x)},${Math.round(y)})">` +
    `<rect width="${BOX.width}" height="${BOX.height}" rx="6" class="summary-bg"/>` +
    `<text class="name" x="10" y="19">+ ${esc(plural(box.total, "more job"))}</text>` + bar +
    `<text class="tasks" x="10" y="50">${
      esc(clip(order.map((s) => `${box.counts[s]} ${s}`).join(" · "), 34))
    }</text></g>`;
}

/** The graph's `<svg>` element. */
export function dagSvg(model: ReportModel, layout: Layout): string {
  const jobs = new Map(model.jobs.map((j) => [j.name, j]));
  const frames = [...layout.frames].map(([job, r]) =>
    `<rect class="frame" data-frame="${esc(job)}" x="${r.x.toFixed(1)}" y="${
      r.y.toFixed(1)
    }" width="${r.width.toFixed(1)}" height="${r.height.toFixed(1)}" rx="10"/>`
  ).join("");
  const edges = layout.edges.map((e) =>
    `<path class="edge ${e.kind}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" d="${
      path(e.points)
    }" marker-end="url(#kt-arrow)"/>`
  ).join("");
  const boxes = model.boxes.map((box) => {
    const r = layout.boxes.get(box.id)!;
    return box.kind === "job"
      ? jobBox(box, jobs.get(box.job)!, r.x, r.y)
      : summaryBox(box, r.x, r.y);
  }).join("\n");
  const w = Math.ceil(layout.width), h = Math.ceil(layout.height);
  return `<svg id="dag" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="group" aria-label="the run's jobs and their dependencies">` +
    `<defs><marker id="kt-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>` +
    `<g class="frames">${frames}</g><g class="edges">${edges}</g><g class="boxes">\n${boxes}\n</g></svg>`;
}
