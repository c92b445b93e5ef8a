// The job page's attempts: each attempt's "attempt N started on host (why)" system line and
// the line saying how it ended, read from the log search API. Logs that are expired or not
// kept leave the plain count the page already shows.
const list = document.getElementById("attempts");
const PATTERN = "^(attempt \\d+ started|exited with|failed:|canceled by request|system failure:)";

async function load() {
  if (!list) return;
  const params = new URLSearchParams({ q: PATTERN, regex: "true", stream: "system", order: "asc", limit: "100" });
  const response = await fetch(`${list.dataset.api}/logs/search?${params}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const { logs } = await response.json();
  if (!logs.length) return;
  const items = [];
  for (const line of logs) {
    if (line.message.startsWith("attempt ")) {
      items.push({ started: line.message, ended: null, seq: line.sequence_num });
    } else if (items.length) {
      items[items.length - 1].ended = line.message;
    }
  }
  list.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    const started = document.createElement("span");
    started.textContent = item.started;
    const ended = document.createElement("span");
    ended.className = item.ended && !item.ended.startsWith("exited with code 0") ? "problem" : "muted";
    ended.textContent = item.ended ? ` → ${item.ended}` : " → still running";
    li.append(started, ended);
    return li;
  }));
}

load().catch(() => { /* the count stays; the log slot says what is wrong with the log */ });
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.elt.id === "job-live" && event.detail.elt.dataset.finished === "true") load();
});
