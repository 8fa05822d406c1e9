/**
 * Places the report's boxes with dagre's layered layout, left to right: a job after the
 * jobs it waits for, a dynamic job's returned jobs in a frame with it (frames nest), and
 * a job that waits for a dynamic job after that job's whole frame.
 *
 * @module
 */
import dagre from "@dagrejs/dagre";
import { type Edge, jobBoxId, type ReportModel } from "./model.ts";

/** A rectangle, top-left corner and size. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An edge with the points of its route. */
export interface RoutedEdge extends Edge {
  points: { x: number; y: number }[];
}

/** Where everything goes. */
export interface Layout {
  width: number;
  height: number;
  boxes: Map<string, Rect>;
  frames: Map<string, Rect>;
  edges: RoutedEdge[];
}

/** Size of every box. */
export const BOX = { width: 196, height: 58 };

const frameId = (job: string) => `c:${job}`;
const endId = (job: string) => `e:${job}`;

/** Lays the model's graph out. */
export function layoutGraph(model: ReportModel): Layout {
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({
    rankdir: "LR",
    nodesep: 14,
    ranksep: 46,
    edgesep: 8,
    marginx: 12,
    marginy: 12,
  });
  g.setDefaultEdgeLabel(() => ({}));

  const framed = new Set(model.frames);
  const groupOf = new Map(model.boxes.map((b) => [b.id, b.group]));
  for (const job of model.frames) g.setNode(frameId(job), {});
  for (const job of model.frames) {
    const parent = groupOf.get(jobBoxId(job));
    if (parent && framed.has(parent)) g.setParent(frameId(job), frameId(parent));
    g.setNode(endId(job), { width: 1, height: 1 });
    g.setParent(endId(job), frameId(job));
  }
  for (const box of model.boxes) {
    g.setNode(box.id, { ...BOX });
    const frame = box.kind === "job" && framed.has(box.job) ? box.job : box.group;
    if (frame && framed.has(frame)) g.setParent(box.id, frameId(frame));
  }

  /** Frames a box is inside, innermost first. */
  const framesAround = (id: string): string[] => {
    const out: string[] = [];
    for (let p = g.parent(id) as string | undefined; p; p = g.parent(p) as string | undefined) {
      out.push(p.slice(2));
    }
    return out;
  };
  /** The node an edge leaves from: a framed job's end when the edge leaves its frame. */
  const source = (edge: Edge): string => {
    const head = edge.from.slice(2);
    if (edge.from.startsWith("j:") && framed.has(head) && !framesAround(edge.to).includes(head)) {
      return endId(head);
    }
    return edge.from;
  };

  const drawn = new Map<string, Edge>();
  for (const edge of model.edges) {
    const from = source(edge);
    g.setEdge(from, edge.to);
    drawn.set(`${from}>${edge.to}`, edge);
  }
  // Each frame's last boxes lead to its end, so what waits for the frame comes after it.
  const leaves = new Set<string>();
  for (const edge of model.edges) {
    if (groupOf.get(edge.from) === groupOf.get(edge.to)) leaves.add(edge.from);
  }
  for (const box of model.boxes) {
    if (box.group && framed.has(box.group) && !leaves.has(box.id)) {
      const inner = box.kind === "job" && framed.has(box.job);
      g.setEdge(inner ? endId(box.job) : box.id, endId(box.group));
    }
  }

  dagre.layout(g);

  const rect = (id: string): Rect => {
    const n = g.node(id);
    return { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height };
  };
  const boxes = new Map(model.boxes.map((b) => [b.id, rect(b.id)]));
  const frames = new Map(model.frames.map((job) => [job, rect(frameId(job))]));
  const edges: RoutedEdge[] = [];
  for (const e of g.edges()) {
    const edge = drawn.get(`${e.v}>${e.w}`);
    if (!edge) continue;
    const points = (g.edge(e).points ?? []).map((p: { x: number; y: number }) => ({ ...p }));
    if (e.v.startsWith("e:") && points.length > 0) {
      const frame = frames.get(e.v.slice(2))!;
      points[0] = { x: frame.x + frame.width, y: points[0].y };
    }
    edges.push({ ...edge, points });
  }
  const size = g.graph() as { width?: number; height?: number };
  return { width: size.width ?? 0, height: size.height ?? 0, boxes, frames, edges };
}
