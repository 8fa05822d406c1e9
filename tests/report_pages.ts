/**
 * What a report page shows, read from the page in the browser: its boxes, edges, timeline
 * rows and header, for the report tests to assert on.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import type { StateDocument } from "../src/engine/state.ts";
import { STATUS_COLORS } from "../src/report/statuses.ts";

/** One box of the graph as the browser draws it. */
export interface DrawnBox {
  id: string;
  job?: string;
  status?: string;
  name: string;
  fill: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What the page shows. */
export interface Shown {
  title: string;
  run: Record<string, string>;
  boxes: DrawnBox[];
  edges: { from: string; to: string; kind: string; end: { x: number; y: number } }[];
  frames: string[];
  rows: { id: string; job?: string; start: number; end: number; x: number; y: number }[];
  tasks: { job: string; index: number; ok: boolean }[];
  logs: { job: string; index: number; text: string }[];
  tableRows: number;
}

const READ = `(() => {
  const num = (v) => Number(v);
  const box = (el) => {
    const r = el.querySelector("rect").getBoundingClientRect();
    return {
      id: el.dataset.id, job: el.dataset.job, status: el.dataset.status,
      name: el.querySelector(".name").textContent,
      fill: getComputedStyle(el.querySelector("rect")).fill,
      x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height,
    };
  };
  const svg = document.getElementById("dag");
  const ctm = svg.getScreenCTM();
  return {
    title: document.title,
    run: Object.fromEntries([...document.querySelectorAll(".run dd")].map((d) => [d.id, d.textContent])),
    boxes: [...document.querySelectorAll("#dag .box")].map(box),
    edges: [...document.querySelectorAll("#dag .edge")].map((e) => {
      const p = e.getPointAtLength(e.getTotalLength()).matrixTransform(ctm);
      return {
        from: e.dataset.from, to: e.dataset.to,
        kind: e.classList.contains("dependency") ? "dependency" : "returned",
        end: { x: p.x + scrollX, y: p.y + scrollY },
      };
    }),
    frames: [...document.querySelectorAll("#dag .frame")].map((f) => f.dataset.frame),
    rows: [...document.querySelectorAll("#timeline .row")].map((r) => {
      const bar = r.querySelector(".bar");
      const b = bar.getBoundingClientRect();
      return { id: r.dataset.id, job: r.dataset.job, start: num(bar.dataset.start), end: num(bar.dataset.end), x: b.x, y: b.y };
    }),
    tasks: [...document.querySelectorAll("#timeline .task-row")].map((r) => ({
      job: r.dataset.job, index: num(r.dataset.index), ok: r.querySelector(".task-bar").classList.contains("ok"),
    })),
    logs: [...document.querySelectorAll("#failures pre.log")].map((p) => ({
      job: p.dataset.job, index: num(p.dataset.index), text: p.textContent,
    })),
    tableRows: document.querySelectorAll("#jobs-table tbody tr").length,
  };
})()`;

/** Reads what the page shows. */
export async function readShown(page: Page): Promise<Shown> {
  return await page.evaluate(READ) as Shown;
}

/** `#7ed99b` as the browser reports a fill, `rgb(126, 217, 155)`. */
export function rgb(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${n >> 16}, ${(n >> 8) & 255}, ${n & 255})`;
}

/** The text of the details panel, or null when it is hidden. */
export async function detailsText(page: Page): Promise<string | null> {
  return await page.evaluate(
    `document.getElementById("details").hidden ? null : document.getElementById("details-body").textContent`,
  ) as string | null;
}

/** The `data-job` of the focused element. */
export async function focusedJob(page: Page): Promise<string | undefined> {
  return await page.evaluate(`document.activeElement?.dataset?.job`) as string | undefined;
}

/** Asserts that the page shows the state document: boxes, colours, edges, timeline order. */
export function assertShowsState(shown: Shown, state: StateDocument) {
  const jobs = Object.values(state.jobs);
  assert.deepEqual(
    shown.boxes.map((b) => b.job).sort(),
    jobs.map((j) => j.name).sort(),
    "one box per job",
  );
  for (const box of shown.boxes) {
    const job = state.jobs[box.job!];
    assert.equal(box.status, job.status, `status of ${job.name}`);
    assert.equal(box.fill, rgb(STATUS_COLORS[job.status]), `colour of ${job.name}`);
    assert.equal(box.name, job.name, `label of ${job.name}`);
  }
  for (const a of shown.boxes) {
    for (const b of shown.boxes) {
      if (a === b) continue;
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y ||
        b.y + b.height <= a.y;
      assert.ok(apart, `boxes ${a.job} and ${b.job} overlap`);
    }
  }
  const deps = jobs.flatMap((j) => j.dependencies.map((d) => `j:${d}>j:${j.name}`)).sort();
  const drawn = shown.edges.filter((e) => e.kind === "dependency");
  assert.deepEqual(drawn.map((e) => `${e.from}>${e.to}`).sort(), deps, "dependency edges");
  const byId = new Map(shown.boxes.map((b) => [b.id, b]));
  for (const edge of shown.edges) {
    const to = byId.get(edge.to)!;
    assert.ok(Math.abs(edge.end.x - to.x) < 12, `edge ${edge.from}>${edge.to} ends at its box`);
    assert.ok(edge.end.y >= to.y && edge.end.y <= to.y + to.height);
  }
  const startedJobs = jobs.filter((j) => j.submitted_at).map((j) => j.name).sort();
  assert.deepEqual(shown.rows.map((r) => r.job).sort(), startedJobs, "a timeline row per job");
  for (let i = 1; i < shown.rows.length; i++) {
    const [a, b] = [shown.rows[i - 1], shown.rows[i]];
    assert.ok(a.start <= b.start, `timeline rows in time order: ${a.job} before ${b.job}`);
    assert.ok(a.y < b.y && a.x <= b.x + 0.5, `bars of ${a.job} and ${b.job} placed in order`);
    assert.equal(a.start, Date.parse(state.jobs[a.job!].submitted_at!));
  }
  assert.equal(shown.tableRows, jobs.length, "a table row per job");
}
