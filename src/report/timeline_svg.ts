/**
 * The run's timeline as SVG markup: a bar per box of the graph from the time it was
 * submitted to the time it finished, in order of start, and under a job with few tasks a
 * thin bar per task.
 *
 * @module
 */
import { escapeHtml as esc } from "./escape.ts";
import type { JobView, ReportModel } from "./model.ts";
import { statusColor } from "./statuses.ts";
import { formatDuration } from "./time_format.ts";

const LABEL = 230;
const PLOT = 780;
const ROW = 20;
const TASK_ROW = 13;
const AXIS = 26;
/** Most task rows in the whole timeline. */
const TASK_ROWS = 300;

const STEPS = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1000,
  2000,
  5000,
  10_000,
  15_000,
  30_000,
  60_000,
  120_000,
  300_000,
  600_000,
  900_000,
  1_800_000,
  3_600_000,
  7_200_000,
  21_600_000,
  43_200_000,
  86_400_000,
];

interface Row {
  id: string;
  label: string;
  start: number;
  end: number;
  color: string;
  open: boolean;
  job?: string;
  tasks?: { index: number; start: number; end: number; ok: boolean }[];
}

function clip(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

/** The timeline's `<svg>` element, or a note when nothing has started. */
export function timelineSvg(model: ReportModel): string {
  const { doc } = model;
  const t0 = Date.parse(doc.created_at);
  const now = Date.parse(doc.finished_at ?? doc.updated_at);
  const jobs = new Map(model.jobs.map((j) => [j.name, j]));
  const rows: Row[] = [];
  let taskRows = 0;
  for (const box of model.boxes) {
    if (box.kind === "summary") {
      if (!box.start) continue;
      rows.push({
        id: box.id,
        label: `+ ${box.total.toLocaleString("en-US")} more jobs`,
        start: Date.parse(box.start),
        end: box.end ? Date.parse(box.end) : now,
        color: "#c9ced6",
        open: !box.end,
      });
      continue;
    }
    const job = jobs.get(box.job) as JobView;
    if (!job.submitted) continue;
    const start = Date.parse(job.submitted);
    const row: Row = {
      id: box.id,
      label: job.name,
      job: job.name,
      start,
      end: job.finished ? Date.parse(job.finished) : Math.max(now, start),
      color: statusColor(job.status),
      open: !job.finished,
    };
    if (job.times && job.times.length <= model.limits.taskBars && taskRows < TASK_ROWS) {
      row.tasks = [...job.times].sort((a, b) => a.start - b.start || a.index - b.index);
      taskRows += row.tasks.length;
    }
    rows.push(row);
  }
  if (rows.length === 0) return `<p class="empty">No job has started yet.</p>`;
  rows.sort((a, b) => a.start - b.start || a.label.localeCompare(b.label));
  const t1 = rows.reduce((most, r) => Math.max(most, r.end), Math.max(now, t0 + 1));
  const span = t1 - t0;
  const x = (t: number) => LABEL + ((t - t0) / span) * PLOT;
  const step = STEPS.find((s) => span / s <= 8) ?? STEPS.at(-1)!;

  const ticks: string[] = [];
  for (let t = 0; t <= span; t += step) {
    ticks.push(
      `<line x1="${x(t0 + t).toFixed(1)}" x2="${x(t0 + t).toFixed(1)}" y1="${
        AXIS - 6
      }" y2="100%"/>` +
        `<text x="${x(t0 + t).toFixed(1)}" y="${AXIS - 10}">+${formatDuration(t)}</text>`,
    );
  }
  let y = AXIS;
  const out: string[] = [];
  for (const row of rows) {
    const width = Math.max(2, x(row.end) - x(row.start));
    const title = `${row.label}: +${formatDuration(row.start - t0)} to ${
      row.open ? "now" : `+${formatDuration(row.end - t0)}`
    } (${formatDuration(row.end - row.start)})`;
    out.push(
      `<g class="row${row.open ? " open" : ""}" data-id="${esc(row.id)}"${
        row.job ? ` data-job="${esc(row.job)}"` : ""
      }><text class="label" x="${LABEL - 8}" y="${y + 14}">${esc(clip(row.label, 32))}</text>` +
        `<rect class="bar" x="${x(row.start).toFixed(1)}" y="${y + 3}" width="${
          width.toFixed(1)
        }" height="${
          ROW - 6
        }" rx="3" fill="${row.color}" data-start="${row.start}" data-end="${row.end}"><title>${
          esc(title)
        }</title></rect></g>`,
    );
    y += ROW;
    for (const task of row.tasks ?? []) {
      out.push(
        `<g class="task-row" data-job="${esc(row.job!)}" data-index="${task.index}">` +
          `<text class="label task" x="${LABEL - 8}" y="${y + 10}">[${task.index}]</text>` +
          `<rect class="task-bar ${task.ok ? "ok" : "failed"}" x="${x(task.start).toFixed(1)}" y="${
            y + 3
          }" width="${Math.max(2, x(task.end) - x(task.start)).toFixed(1)}" height="${
            TASK_ROW - 5
          }" rx="2" data-start="${task.start}" data-end="${task.end}"><title>${
            esc(
              `${row.label}[${task.index}] ${task.ok ? "done" : "failed"} in ${
                formatDuration(task.end - task.start)
              }`,
            )
          }</title></rect></g>`,
      );
      y += TASK_ROW;
    }
  }
  const height = y + 8;
  return `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${
    LABEL + PLOT + 20
  }" height="${height}" viewBox="0 0 ${
    LABEL + PLOT + 20
  } ${height}" role="group" aria-label="when each job ran">` +
    `<g class="axis">${ticks.join("")}</g><g class="rows">${out.join("\n")}</g></svg>`;
}
