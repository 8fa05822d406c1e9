/**
 * What a report page shows, read from the page in the browser: its boxes, edges, timeline
 * rows and header, for the report tests to assert on.
 *
 * @module
 */
import type { Page } from "puppeteer-core";

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
