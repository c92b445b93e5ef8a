// The job page's log slot until the log viewer (its own issue) replaces this module and
// jobs/_log.html: the last lines from the API, refreshed while the job runs, and the download
// link, enabled once the job has finished.
const slot = document.getElementById("log-slot");
const LAST = 50;

function finished() {
  return document.getElementById("job-live")?.dataset.finished === "true";
}

async function refresh() {
  const note = document.getElementById("log-note");
  const lines = document.getElementById("log-lines");
  const response = await fetch(`${slot.dataset.api}/logs?order=desc&limit=${LAST}`, { credentials: "same-origin" });
  if (!response.ok) {
    let detail = `the log cannot be read (${response.status})`;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* keep the status */ }
    note.textContent = detail;
    lines.hidden = true;
    return;
  }
  const page = await response.json();
  const shown = page.logs.slice().reverse();
  lines.hidden = shown.length === 0;
  lines.textContent = shown.map((line) => line.message).join("\n");
  note.textContent = shown.length === 0
    ? (finished() ? "The job wrote no output." : "No output yet.")
    : `The last ${shown.length} of ${page.total_lines} lines (${page.log_state}).`;
}

function syncDownload() {
  const link = document.getElementById("log-download");
  if (!link) return;
  if (finished()) {
    link.removeAttribute("aria-disabled");
    link.removeAttribute("title");
  } else {
    link.setAttribute("aria-disabled", "true");
    link.title = link.dataset.disabledReason || "";
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("#log-download[aria-disabled='true']");
  if (link) event.preventDefault();
});

async function loop() {
  syncDownload();
  try {
    await refresh();
  } catch (error) {
    document.getElementById("log-note").textContent = "The log could not be loaded: retrying…";
  }
  if (!finished()) setTimeout(loop, 2000);
}

if (slot) loop();
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.elt.id === "job-live" && finished()) { syncDownload(); refresh().catch(() => {}); }
});
