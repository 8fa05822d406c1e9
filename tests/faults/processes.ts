/**
 * What the fault tests look at: the processes below a PID (from /proc), and waiting for a
 * condition to hold, by polling, up to a deadline.
 *
 * @module
 */

/** PID, parent PID and process group of every process now, from /proc. */
export function processTable(): { pid: number; ppid: number; pgid: number }[] {
  const table = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
      const [, ppid, pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      table.push({ pid: Number(entry.name), ppid: Number(ppid), pgid: Number(pgid) });
    } catch {
      // the process ended while we looked
    }
  }
  return table;
}

/** The PIDs of every process below `root` (children, their children, ...). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const { pid, ppid } of processTable()) {
    children.set(ppid, [...children.get(ppid) ?? [], pid]);
  }
  const found: number[] = [];
  const stack = [root];
  while (stack.length) {
    for (const child of children.get(stack.pop()!) ?? []) {
      found.push(child);
      stack.push(child);
    }
  }
  return found;
}

/** True while the process exists and is not a zombie. */
export function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
