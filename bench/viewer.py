"""Benchmark of the log viewer in Chromium against a real `hourglass up`, printing JSON.

Figures (issue "The log viewer", with its targets):
- open: navigation -> the first lines of a 1M-line log drawn (first visit, then p50 of 9 more);
  target < 500 ms;
- jump: a random line by permalink (#L…) and by the scrollbar -> that line drawn, p50/p95 over
  `--jumps` each; target p95 < 100 ms;
- long tasks: main-thread tasks > 50 ms during 300 random jumps; target 0;
- heap: JS heap after visiting the whole 1M-line log (a jump every 1,000 lines), measured
  after a garbage collection (and the page's DOM node count); target < 100 MB;
- follow: a job writing 5,000 lines/s for 10 s, followed live: the lines the viewer received /
  the lines the job wrote (target 100 %), the share of lines that were ever drawn (at ~60 frames a
  second most scroll by between two frames), and frame time p50/p95 (target p95 < 50 ms);
- search: a query typed (its last keypress) -> the count shown, and -> "X of Y" shown (the first
  hit at or below the view; from the middle of a log with many hits before it, the viewer shows
  "Y matches" and lets Enter look on, so X may not come), for a rare literal, a common one and a
  regex, from the top of the log and from line 500,000; target < 500 ms.
- plain: the same log as a plain list (one <div> per line, no virtualization), built in the same
  page from the download, for comparison: time to build and draw it, a jump, heap.

Usage: `.venv/bin/python bench/viewer.py [--jumps 100] [--no-plain]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from playwright.sync_api import CDPSession, Page, sync_playwright
from tests.e2e.processes import base_env, free_port, started

CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"
FINAL = {"COMPLETED", "FAILED", "CANCELED"}
FOLLOW = (
    "import sys, time\ntime.sleep(3)\nstart = time.monotonic()\n"
    # 1,000 ticks of 50 lines every 10 ms: 5,000 lines/s for 10 s
    "for tick in range(1000):\n"
    "    lines = (f'line {tick * 50 + i} of the follow benchmark\\n' for i in range(50))\n"
    "    sys.stdout.write(''.join(lines))\n"
    "    sys.stdout.flush()\n"
    "    time.sleep(max(0, start + (tick + 1) / 100 - time.monotonic()))\n"
)

# Installed before any page script (CDP, so the page's CSP does not apply): when the first
# rows were drawn, and every long task.
PROBES = """
window.__bench = { firstRows: null, longTasks: [], frames: [] };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__bench.longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
new MutationObserver((_, observer) => {
  if (document.querySelector(".lv-row[data-seq]")) {
    window.__bench.firstRows = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""

JUMPS = """
async ([count, how]) => {
  const v = document.getElementById("log-viewer").hgViewer;
  const frame = () => new Promise((done) => requestAnimationFrame(done));
  const drawn = (seq) => {
    const row = document.querySelector(`.lv-row[data-seq="${seq}"]`);
    return row && !row.dataset.pending;
  };
  const times = [];
  const total = v.base.count;
  for (let i = 0; i < count; i++) {
    const seq = 1 + Math.floor(Math.random() * total);
    const start = performance.now();
    if (how === "link") {
      location.hash = `#L${seq}`;
      while (!drawn(seq)) await frame();
    } else {
      const viewport = document.querySelector(".lv-viewport");
      viewport.scrollTop = Math.random() * (viewport.scrollHeight - viewport.clientHeight);
      await frame();
      const rows = () => document.querySelectorAll(".lv-row:not([data-pending])").length;
      const waiting = () => !rows() || document.querySelector(".lv-row[data-pending]");
      while (waiting()) await frame();
    }
    await frame();
    times.push(performance.now() - start);
  }
  return times;
}
"""

VISIT_ALL = """
async (step) => {
  const v = document.getElementById("log-viewer").hgViewer;
  const frame = () => new Promise((done) => requestAnimationFrame(done));
  for (let seq = 1; seq <= v.base.count; seq += step) {
    location.hash = `#L${seq}`;
    while (!document.querySelector(`.lv-row[data-seq="${seq}"]:not([data-pending])`)) await frame();
  }
  return v.base.blocks.size;
}
"""

SEARCH = """
async ([query, regex]) => {
  const input = document.getElementById("lv-q");
  const count = document.getElementById("lv-count");
  const toggle = document.getElementById("lv-regex");
  if ((toggle.getAttribute("aria-pressed") === "true") !== regex) toggle.click();
  const times = {};
  const shown = new Promise((done) => new MutationObserver((_, observer) => {
    const text = count.textContent;
    const now = performance.now();
    if (/match|No matches| of /.test(text) && times.count === undefined) times.count = now;
    if (/ of |No matches/.test(text)) {
      observer.disconnect();
      done(now);
    }
  }).observe(count, { childList: true, characterData: true, subtree: true }));
  const start = performance.now();
  input.value = query;
  input.dispatchEvent(new Event("input"));
  const late = new Promise((done) => setTimeout(() => done(null), 5000));
  const end = await Promise.race([shown, late]);
  return {
    count_ms: times.count - start,
    x_of_y_ms: end === null ? null : end - start,
    text: count.textContent,
  };
}
"""

FRAMES = """
async () => {
  const v = document.getElementById("log-viewer").hgViewer;
  const frames = [];
  let last = performance.now();
  while (v.root.dataset.live !== "ended") {
    await new Promise((done) => requestAnimationFrame(done));
    const now = performance.now();
    if (v.live && v.live.received > 0) frames.push(now - last);
    last = now;
  }
  return { frames, received: v.live.received, duplicates: v.live.duplicates, count: v.base.count };
}
"""

DRAWN = """
() => {
  window.__drawn = new Set();
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      if (node.dataset && node.dataset.seq) window.__drawn.add(Number(node.dataset.seq));
    }
  }).observe(document.querySelector(".lv-list"), { childList: true });
}
"""

PLAIN = """
async (url) => {
  const start = performance.now();
  const text = await (await fetch(url)).text();
  const list = document.createElement("div");
  list.className = "plain-list";
  const lines = text.split("\\n");
  lines.pop();
  for (const line of lines) {
    const row = document.createElement("div");
    row.textContent = line;
    list.append(row);
  }
  const box = document.createElement("div");
  box.style.height = "600px";
  box.style.overflow = "auto";
  box.append(list);
  document.body.prepend(box);
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
  const built = performance.now() - start;
  const jumps = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    box.scrollTop = Math.random() * box.scrollHeight;
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
    jumps.push(performance.now() - t);
  }
  return { built_ms: built, jumps, rows: lines.length };
}
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
        "samples": len(ordered),
    }


def job(client: httpx.Client, name: str, cmd: list[str], wait: bool = True) -> str:
    body = {"name": name, "kind": "COMMAND", "payload": json.dumps({"cmd": cmd}), "interval": 10080}
    created = client.post("/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    workflow = f"/workflows/{created.json()['id']}"
    while client.get(workflow).json()["build_status"] != "COMPLETED":
        time.sleep(0.1)
    run = client.post(f"{workflow}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex})
    path = f"{workflow}/jobs/{run.json()['id']}"
    while wait and client.get(path).json()["status"] not in FINAL:
        time.sleep(0.1)
    return path


def heap_mb(page: Page) -> float:
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    used = cdp.send("Runtime.getHeapUsage")["usedSize"]
    cdp.detach()
    return round(used / 1e6, 1)


_SESSIONS: dict[int, CDPSession] = {}


def metrics(page: Page) -> dict[str, float]:
    """Chromium's page metrics (cumulative task durations in seconds, DOM node count, …),
    from one session per page (enabling them again would start the counts again)."""
    cdp = _SESSIONS.get(id(page))
    if cdp is None:
        cdp = _SESSIONS[id(page)] = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def open_times(page: Page, url: str) -> dict[str, Any]:
    visits = []
    for _ in range(10):
        page.goto(url)
        page.wait_for_selector(".lv-row[data-seq]")
        visits.append(page.evaluate("window.__bench.firstRows"))
    return {
        "first_visit_ms": round(visits[0], 1),
        "p50_ms": round(statistics.median(visits[1:]), 1),
    }


def measure(base: str, client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    big = job(client, "million", ["seq", "1", "1000000"])
    report: dict[str, Any] = {"log_lines": client.get(big).json()["log_lines"]}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": k, "value": v, "url": base} for k, v in client.cookies.items()]
        )
        context.add_init_script(PROBES)
        page = context.new_page()
        report["open_1m"] = open_times(page, f"/ui{big}")
        report["jump_permalink"] = percentiles(page.evaluate(JUMPS, [args.jumps, "link"]))
        report["jump_scrollbar"] = percentiles(page.evaluate(JUMPS, [args.jumps, "scroll"]))
        page.goto(f"/ui{big}")
        page.wait_for_selector(".lv-row[data-seq]")
        page.evaluate("window.__bench.longTasks = []")
        before = metrics(page)
        page.evaluate(JUMPS, [300, "link"])
        after = metrics(page)
        tasks = page.evaluate("window.__bench.longTasks")
        work = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
        report["long_tasks_300_jumps"] = {
            "over_50ms": sum(1 for t in tasks if t > 50),
            "durations_ms": [round(t) for t in tasks],
            # main-thread time per jump (wall clock: on a busy machine it includes the waits
            # for a core), to tell a long task of the viewer's from a starved one
            "per_jump_ms": {
                name: round((after[name] - before[name]) * 1000 / 300, 2) for name in work
            },
        }
        page.goto(f"/ui{big}")
        page.wait_for_selector(".lv-row[data-seq]")
        blocks = page.evaluate(VISIT_ALL, 1000)
        report["after_visiting_all"] = {
            "js_heap_mb": heap_mb(page),
            "dom_nodes": metrics(page)["Nodes"],
            "cached_blocks": blocks,
        }
        report["search_1m"] = {
            where: {
                name: search(page, f"/ui{big}{anchor}", query, regex)
                for name, query, regex in (
                    ("rare_literal", "123456", False),
                    ("common_literal", "99", False),
                    ("regex", r"^12\d{3}7$", True),
                )
            }
            for where, anchor in (("from_the_top", ""), ("from_line_500000", "#L500000"))
        }
        report["follow_5000_per_s_10_s"] = follow(page, client)
        if args.plain:
            page.goto(f"/ui{big}")
            page.wait_for_selector(".lv-row[data-seq]")
            heap_before = heap_mb(page)
            plain = page.evaluate(PLAIN, f"{big}/logs/raw")
            report["plain_list_1m"] = {
                "build_and_draw_ms": round(plain["built_ms"], 1),
                "rows": plain["rows"],
                "jump": percentiles(plain["jumps"]),
                # the rows live in the DOM, outside the JS heap
                "js_heap_mb": heap_mb(page),
                "js_heap_of_the_page_before_mb": heap_before,
                "dom_nodes": metrics(page)["Nodes"],
            }
        browser.close()
    return report


def search(page: Page, url: str, query: str, regex: bool) -> dict[str, Any]:
    """Type `query` in a freshly opened viewer: when the count showed, when "X of Y" did."""
    page.goto("about:blank")  # else a URL differing in its #L only is not a new page
    page.goto(url)
    page.wait_for_selector(".lv-row[data-seq]:not([data-pending])")
    found = page.evaluate(SEARCH, [query, regex])
    return {
        "count_shown_ms": round(found["count_ms"], 1),
        "x_of_y_shown_ms": None if found["x_of_y_ms"] is None else round(found["x_of_y_ms"], 1),
        "shown": found["text"],
    }


def follow(page: Page, client: httpx.Client) -> dict[str, Any]:
    path = job(client, "follow", ["python3", "-c", FOLLOW], wait=False)
    page.goto(f"/ui{path}")
    page.wait_for_selector("#log-viewer[data-live]")
    page.evaluate(DRAWN)
    run = page.evaluate(FRAMES)
    written = client.get(f"{path}/logs/raw").text.count("\n")
    drawn = page.evaluate("window.__drawn.size")
    return {
        "lines_written": written,
        "lines_in_viewer": run["count"],
        "received_live": run["received"],
        "duplicates": run["duplicates"],
        "in_viewer_of_written_pct": round(100 * run["count"] / written, 2),
        "ever_drawn_of_written_pct": round(100 * drawn / written, 1),
        "frames": percentiles(run["frames"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jumps", type=int, default=100)
    parser.add_argument("--no-plain", dest="plain", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = base_env(
            HOURGLASS_PORT=str(port),
            HOURGLASS_DATA_DIR=str(Path(tmp) / "data"),
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
            HOURGLASS_POLL_INTERVAL_SECONDS="0.5",
        )
        base = f"http://127.0.0.1:{port}"
        with (
            started(["up"], env, Path(tmp) / "up.log", base),
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            body = {
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery",
            }
            registered = client.post("/auth/register", json=body)
            client.headers["X-CSRF-Token"] = registered.json()["csrf_token"]
            report = {
                "targets": {
                    "open_ms": 500,
                    "jump_p95_ms": 100,
                    "long_tasks_over_50ms": 0,
                    "heap_mb": 100,
                    "follow_in_viewer_pct": 100,
                    "follow_frame_p95_ms": 50,
                    "search_ms": 500,
                },
                **measure(base, client, args),
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
