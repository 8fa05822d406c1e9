/**
 * The report page's script: details of a job on hover, click or Enter, the jobs table with
 * its filter, and (when the page is served by `kt-deno report --serve`) reloading when the
 * run changes. It is written as a function so that it is checked and linted with the rest,
 * and put into the page as its source.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any

/** What the parts of the page script share: the page, its data and text helpers. */
function pageParts(): any {
  const g = globalThis as any;
  const doc = g.document;
  const data = JSON.parse(doc.getElementById("kt-data").textContent);
  const jobs = new Map<string, any>(data.jobs.map((j: any) => [j.name, j]));
  const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const ms = (a?: string, b?: string) => a && b ? Date.parse(b) - Date.parse(a) : undefined;
  const dur = (n?: number) =>
    n === undefined
      ? "—"
      : n < 1000
      ? `${n} ms`
      : n < 60000
      ? `${(n / 1000).toFixed(2)} s`
      : `${Math.floor(n / 60000)} min ${Math.round((n % 60000) / 1000)} s`;
  const time = (iso?: string) => iso ? `${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC` : "—";
  const swatch = (status: string) =>
    `<span class="swatch" style="background:${data.colors[status] ?? "#eee"}"></span>${
      esc(status)
    }`;
  const row = (k: string, v: string) => `<tr><th>${k}</th><td>${v}</td></tr>`;
  return { g, doc, data, jobs, esc, ms, dur, time, swatch, row };
}

/** Some tasks of a job with the cache: cached or ran and why, the files read and written. */
function lineageDetails(page: any, job: any): string {
  const { data, esc } = page;
  const total = job.cache.cached + job.cache.ran;
  const task = (w: any) => `${esc(w.job)}/${esc(w.index)}${w.run ? ` (run ${esc(w.run)})` : ""}`;
  const more = (shown: number, count: number) =>
    count > shown ? `<li class="more">and ${count - shown} more</li>` : "";
  const files = (t: any) =>
    !t.entryRun ? `<p class="note">No entry: what it read and wrote was not stored.</p>` : (
      `<div class="files">read ${t.readCount} file${t.readCount === 1 ? "" : "s"}` +
      `<ul class="reads">${
        t.reads.map((r: any) =>
          `<li><code>${esc(r.path)}</code>${
            r.writer ? ` <span class="writer">written by ${task(r.writer)}</span>` : ""
          }</li>`
        ).join("")
      }${more(t.reads.length, t.readCount)}</ul>` +
      `wrote ${t.writeCount} file${t.writeCount === 1 ? "" : "s"}<ul class="writes">${
        t.writes.map((p: string) => `<li><code>${esc(p)}</code></li>`).join("")
      }${more(t.writes.length, t.writeCount)}</ul>` +
      (t.entryRun !== data.run.id
        ? `<p class="note">From its entry of run ${esc(t.entryRun)}.</p>`
        : "") +
      `</div>`
    );
  const items = job.lineage.map((t: any) =>
    `<details class="lineage" data-index="${esc(t.index)}"><summary>Task ${esc(t.index)}: ` +
    `<span class="outcome ${esc(t.outcome)}">${esc(t.outcome)}</span> ` +
    `<span class="why">${esc(t.why)}</span></summary>${files(t)}</details>`
  ).join("");
  const rest = total - job.lineage.length;
  return `<h4>Tasks and their files</h4>${items}` +
    (rest > 0
      ? `<p class="note">${rest} more task${rest === 1 ? "" : "s"}: kt-deno why ${
        esc(data.run.id)
      } ${esc(job.name)}, and kt-deno lineage PATH for a file.</p>`
      : "");
}

/**
 * The details panel: a job's details (or a folded group's) on hover, click or Enter in the
 * graph or the timeline. Returns what shows an element's details (pinned or not).
 */
function detailsPanel(page: any): (el: any, pin: boolean) => void {
  const { g, doc, data, jobs, esc, ms, dur, time, swatch, row } = page;
  const details = doc.getElementById("details");
  const body = doc.getElementById("details-body");
  let pinned = false;

  function jobDetails(job: any): string {
    const t = job.tasks;
    let html = `<h3>${esc(job.name)}</h3><table class="facts">` +
      row("status", swatch(job.status)) + row("type", esc(job.type)) +
      (job.parent ? row("returned by", esc(job.parent)) : "") +
      row("waits for", job.dependencies.length ? esc(job.dependencies.join(", ")) : "—") +
      row("attempts", esc(job.attempts)) + row("task retries", esc(job.retries)) +
      row("submitted", time(job.submitted)) + row("finished", time(job.finished)) +
      row("duration", dur(ms(job.submitted, job.finished))) +
      (job.type === "static"
        ? row(
          "tasks",
          `${t.total} (${t.done} done, ${t.failed} failed${
            t.notStarted ? `, ${t.notStarted} not started` : ""
          })`,
        )
        : row(
          "returned",
          job.returned === undefined ? "—" : `${job.returned} job${job.returned === 1 ? "" : "s"}`,
        )) +
      (job.cache ? row("cache", `${job.cache.cached} cached, ${job.cache.ran} ran`) : "") +
      `</table>`;
    if (job.error) html += `<h4>Error</h4><pre class="error">${esc(job.error)}</pre>`;
    if (job.lineage) html += lineageDetails(page, job);
    for (const log of job.logs ?? []) {
      html += `<h4>Task ${log.index}: last lines of its log</h4><pre class="log">${
        esc(log.lines.join("\n"))
      }</pre>`;
    }
    return html;
  }

  function summaryDetails(el: any): string {
    const s = data.summaries[el.dataset.id];
    const counts = Object.keys(s.counts).map((k) => `<li>${swatch(k)}: ${s.counts[k]}</li>`);
    return `<h3>${s.total} more jobs</h3><p>${
      s.group ? `Returned by ${esc(s.group)}` : "At the top level"
    }, folded into one box (with the jobs they returned) so the graph stays readable.</p>` +
      `<ul class="counts">${counts.join("")}</ul>` +
      `<p><button type="button" class="list-group" data-group="${
        esc(s.group ?? "")
      }">List them in the jobs table</button></p>`;
  }

  function show(el: any, pin: boolean) {
    if (pinned && !pin) return;
    const job = el.dataset.job ? jobs.get(el.dataset.job) : undefined;
    if (!job && !el.dataset.id?.startsWith("s:")) return;
    body.innerHTML = job ? jobDetails(job) : summaryDetails(el);
    details.hidden = false;
    pinned = pinned || pin;
    details.classList.toggle("pinned", pinned);
    for (const s of doc.querySelectorAll(".box.selected")) s.classList.remove("selected");
    if (pin) {
      const box = doc.querySelector(`#dag .box[data-id="${el.dataset.id ?? `j:${job.name}`}"]`);
      box?.classList.add("selected");
      if (job) g.history.replaceState(null, "", `#job=${encodeURIComponent(job.name)}`);
    }
  }

  function close() {
    pinned = false;
    details.hidden = true;
    for (const s of doc.querySelectorAll(".box.selected")) s.classList.remove("selected");
    g.history.replaceState(null, "", g.location.pathname + g.location.search);
  }

  const target = (event: any) => event.target.closest?.(".box, .row, .task-row");
  for (const id of ["dag", "timeline"]) {
    const svg = doc.getElementById(id);
    if (!svg) continue;
    svg.addEventListener("mouseover", (e: any) => {
      const el = target(e);
      if (el) show(el, false);
    });
    svg.addEventListener("click", (e: any) => {
      const el = target(e);
      if (el) show(el, true);
    });
    svg.addEventListener("keydown", (e: any) => {
      const el = target(e);
      if (el && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        show(el, true);
      }
    });
  }
  doc.getElementById("details-close").addEventListener("click", close);
  doc.addEventListener("keydown", (e: any) => {
    if (e.key === "Escape" && !details.hidden) close();
  });
  return show;
}

/** The graph's zoom buttons: its drawn size changes, its viewBox keeps what it shows. */
function zoomControls(page: any): void {
  const { doc } = page;
  const dag = doc.getElementById("dag");
  const [w, h] = [Number(dag.getAttribute("width")), Number(dag.getAttribute("height"))];
  let scale = 1;
  const zoom = (to: number) => {
    scale = Math.min(2, Math.max(0.02, to));
    dag.setAttribute("width", String(w * scale));
    dag.setAttribute("height", String(h * scale));
    doc.getElementById("zoom-level").textContent = `${Math.round(scale * 100)}%`;
  };
  doc.getElementById("zoom-in").addEventListener("click", () => zoom(scale * 1.25));
  doc.getElementById("zoom-out").addEventListener("click", () => zoom(scale / 1.25));
  doc.getElementById("zoom-fit").addEventListener("click", () => {
    const box = doc.getElementById("dag-scroll");
    zoom(scale === 1 ? Math.min(1, (box.clientWidth - 4) / w, (box.clientHeight - 4) / h) : 1);
  });
}

/** The jobs table, its filters, and the links between it and the graph. */
function jobsTable(page: any, show: (el: any, pin: boolean) => void): void {
  const { doc, data, esc, ms, dur, swatch } = page;
  const body = doc.getElementById("details-body");
  const tbody = doc.querySelector("#jobs-table tbody");
  const filter = doc.getElementById("job-filter");
  const statusFilter = doc.getElementById("status-filter");
  const more = doc.getElementById("show-all");
  const shownCount = doc.getElementById("jobs-count");
  const PAGE = 500;
  let limit = PAGE;
  let group: string | undefined;
  function renderTable() {
    const text = filter.value.trim().toLowerCase();
    const status = statusFilter.value;
    const rows = data.jobs.filter((j: any) =>
      (!text || j.name.includes(text) || (j.error ?? "").toLowerCase().includes(text)) &&
      (!status || j.status === status) && (group === undefined || j.parent === group ||
        (group === "" && !j.parent))
    );
    tbody.innerHTML = rows.slice(0, limit).map((j: any) =>
      `<tr data-job="${esc(j.name)}" data-status="${esc(j.status)}"><td><a href="#job=${
        encodeURIComponent(j.name)
      }">${esc(j.name)}</a></td><td>${esc(j.type)}</td><td>${swatch(j.status)}</td><td>${
        esc(j.attempts)
      }</td><td>${esc(j.retries)}</td><td>${dur(ms(j.submitted, j.finished))}</td><td class="err">${
        esc(j.error ?? "")
      }</td></tr>`
    ).join("");
    shownCount.textContent = `${Math.min(limit, rows.length)} of ${rows.length} jobs shown` +
      (group !== undefined ? ` (returned by ${group || "the top level"})` : "");
    more.hidden = rows.length <= limit;
    more.textContent = `Show all ${rows.length}`;
  }
  filter.addEventListener("input", () => {
    limit = PAGE;
    renderTable();
  });
  statusFilter.addEventListener("change", () => {
    limit = PAGE;
    renderTable();
  });
  more.addEventListener("click", () => {
    limit = Infinity;
    renderTable();
  });
  body.addEventListener("click", (e: any) => {
    const button = e.target.closest?.(".list-group");
    if (!button) return;
    group = button.dataset.group;
    limit = PAGE;
    renderTable();
    doc.getElementById("jobs").scrollIntoView();
  });
  tbody.addEventListener("click", (e: any) => {
    const tr = e.target.closest?.("tr");
    if (!tr) return;
    e.preventDefault();
    const box = doc.querySelector(`#dag .box[data-job="${tr.dataset.job}"]`);
    show(box ?? tr, true);
    box?.scrollIntoView({ block: "center", inline: "center" });
    box?.focus({ preventScroll: true });
  });
  renderTable();
}

/** The page's script: its parts, the job the address names, and reloads when served. */
function reportPage(): void {
  const page = pageParts();
  const { g, doc, jobs } = page;
  const show = detailsPanel(page);
  zoomControls(page);
  jobsTable(page, show);
  const selected = /^#job=(.+)$/.exec(g.location.hash);
  if (selected) {
    const name = decodeURIComponent(selected[1]);
    const box = doc.querySelector(`#dag .box[data-job="${name}"]`);
    if (jobs.has(name)) show(box ?? { dataset: { job: name } }, true);
  }
  if (g.location.protocol === "http:" && g.EventSource) {
    const events = new g.EventSource("/events");
    events.onmessage = () => g.location.reload();
  }
  g.performance?.mark?.("kt-report-ready");
  doc.documentElement.dataset.ready = "true";
}

/** The page script's source, to inline in the page. */
export const PAGE_SCRIPT = `(() => {
${[pageParts, lineageDetails, detailsPanel, zoomControls, jobsTable, reportPage].join("\n")}
reportPage();
})();`;
