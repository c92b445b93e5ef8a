"""The log viewer in a real Chromium against a real `hourglass up` (issue "The log viewer"): a
million-line log opens, ends and links; search agrees with the API; ANSI colours stay on their
row; a running job is followed to its end, paused, and resumed after a dropped connection, each
line exactly once; filters and toggles; copying; a failed job opens at its first error.

One server per module; the finished logs are written once, by real jobs, before the tests."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Watch, api, new_page, poll_json, sign_up, start_server
from tests.e2e.cli.proxy import Proxy, proxied
from tests.support import TemplateDatabases

pytestmark = pytest.mark.browser

FINAL = {"COMPLETED", "FAILED", "CANCELED"}
CLIPBOARD = ["clipboard-read", "clipboard-write"]
ANSI = (
    r"printf '\033[31mred line\033[0m\nplain line\n\033[1;32mbold green\nno colour left\n';"
    r" echo '<img src=x onerror=alert(1)> & <b>not bold</b>'; echo 'emoji 😀😀 then Match here'"
)
MIXED = (
    "import sys\n"
    "for i in range(1, 61):\n"
    "    print(f'out {i}', flush=True)\n"
    "    if i % 3 == 0: print(f'err {i}', file=sys.stderr, flush=True)\n"
    "print('x' * 3000)\n"
)
FAILING = "seq 1 3000; echo 'ERROR: the disk is full' >&2; seq 3001 5000; exit 3"


def follow_script(lines: int, per_tick: int = 100) -> str:
    """Waits for the viewer to open, then prints `lines` numbered lines in ticks."""
    return (
        "import time\ntime.sleep(2)\n"
        f"for i in range(1, {lines} + 1):\n"
        "    print(f'line {i}', flush=True)\n"
        f"    if i % {per_tick} == 0: time.sleep(0.05)\n"
    )


def start_job(client: httpx.Client, name: str, cmd: list[str], **fields: Any) -> str:
    """A COMMAND workflow run once now; the job's API path."""
    body = {"name": name, "kind": "COMMAND", "payload": json.dumps({"cmd": cmd}), "interval": 10080}
    created = client.post(
        "/workflows", json={**body, **fields}, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert created.status_code == 201, created.text
    workflow = f"/workflows/{created.json()['id']}"
    poll_json(client, workflow, lambda w: w["build_status"] == "COMPLETED")
    run = client.post(f"{workflow}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex})
    assert run.status_code == 201, run.text
    return f"{workflow}/jobs/{run.json()['id']}"


def finished(client: httpx.Client, path: str) -> dict[str, Any]:
    job = poll_json(client, path, lambda j: j["status"] in FINAL)
    assert job["status"] in FINAL, job
    return job


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, templates: TemplateDatabases) -> Iterator[str]:
    yield from start_server(tmp_path_factory.mktemp("viewer"), templates, "sqlite")


@pytest.fixture(scope="module")
def owner(server: str) -> dict[str, Any]:
    return sign_up(server)


@pytest.fixture(scope="module")
def client(server: str, owner: dict[str, Any]) -> Iterator[httpx.Client]:
    with api(server, owner) as client:
        yield client


@pytest.fixture(scope="module")
def logs(client: httpx.Client) -> dict[str, str]:
    """The finished jobs every test may read, run once: their API paths by name."""
    paths = {
        "million": start_job(client, "million", ["seq", "1", "1000000"]),
        "ansi": start_job(client, "ansi", ["sh", "-c", ANSI]),
        "mixed": start_job(client, "mixed", ["python3", "-c", MIXED]),
        "failing": start_job(client, "failing", ["sh", "-c", FAILING]),
    }
    for path in paths.values():
        finished(client, path)
    return paths


@pytest.fixture
def page(chromium: Browser, server: str, watch: Watch, owner: dict[str, Any]) -> Iterator[Page]:
    """A fresh browser context signed in as the owner of the logs, allowed the clipboard."""
    page = new_page(chromium, server, watch, permissions=CLIPBOARD)
    page.context.add_cookies(owner["cookies"])
    yield page
    page.context.close()


def open_log(page: Page, path: str, hash: str = "") -> None:
    page.goto(f"/ui{path}{hash}")
    expect(page.locator(".lv-row[data-seq]").first).to_be_visible()


def row(page: Page, seq: int) -> Any:
    return page.locator(f".lv-row[data-seq='{seq}']")


def in_view(page: Page, seq: int) -> bool:
    """Whether row `seq` is drawn inside the viewer's viewport."""
    box = row(page, seq).bounding_box()
    frame = page.locator(".lv-viewport").bounding_box()
    assert frame is not None
    return (
        box is not None
        and frame["y"] <= box["y"]
        and box["y"] + box["height"] <= frame["y"] + frame["height"]
    )


def until(condition: Any, timeout: float = 20) -> None:
    """Wait for `condition()` (polled), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def clipboard(page: Page) -> str:
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def viewer_state(page: Page) -> dict[str, Any]:
    """What the viewer holds (its live stream's counts), read from the page."""
    state: dict[str, Any] = page.evaluate(
        "(() => { const v = document.getElementById('log-viewer').hgViewer;"
        " return {received: v.live ? v.live.received : 0,"
        " duplicates: v.live ? v.live.duplicates : 0, count: v.base.count}; })()"
    )
    return state


def test_a_million_line_log_opens_at_the_top(page: Page, logs: dict[str, str]) -> None:
    """Line 1 first, the count of every line, and only the rows in view in the DOM."""
    open_log(page, logs["million"])
    expect(row(page, 1)).to_contain_text("attempt 1 started")
    expect(row(page, 2)).to_have_text(re.compile(r"^2\s*1$"))
    expect(page.locator("#lv-lines")).to_have_text("1,000,002 lines")
    assert page.locator(".lv-row").count() < 80


def test_the_first_page_is_fetched_once_with_the_page(page: Page, logs: dict[str, str]) -> None:
    """The page preloads the viewer's first request, and the viewer uses it: one request."""
    firsts: list[str] = []
    page.on("request", lambda r: firsts.append(r.url) if "/logs?after=0&" in r.url else None)
    open_log(page, logs["million"])
    expect(page.locator("head link[rel=preload]")).to_have_attribute(
        "href", f"{logs['million']}/logs?after=0&limit=500&order=asc"
    )
    expect(row(page, 20)).to_be_visible()
    assert len(firsts) == 1, firsts


def test_end_shows_the_last_line(page: Page, logs: dict[str, str]) -> None:
    """End (in the viewer) goes to the last line of the log."""
    open_log(page, logs["million"])
    page.locator(".lv-viewport").focus()
    page.keyboard.press("End")
    expect(row(page, 1000002)).to_contain_text("exited with code 0")
    expect(row(page, 1000001)).to_contain_text("1000000")
    assert in_view(page, 1000002)


def test_a_line_link_shows_that_line_highlighted(page: Page, logs: dict[str, str]) -> None:
    """#L500000 opens with line 500,000 in view and selected."""
    open_log(page, logs["million"], "#L500000")
    expect(page.locator(".lv-selected")).to_have_count(1)
    expect(page.locator(".lv-selected")).to_have_attribute("data-seq", "500000")
    expect(row(page, 500000)).to_contain_text("499999")
    assert in_view(page, 500000)
    expect(page.locator("#lv-selection")).to_have_text("Line 500,000")


def test_search_counts_as_the_api_and_walks_the_hits(
    page: Page, logs: dict[str, str], client: httpx.Client
) -> None:
    """ "X of Y" has the API's exact total; Enter and Shift+Enter go to the next and previous
    hits, wrapping around, anywhere in the log."""
    path = logs["million"]
    found = client.get(f"{path}/logs/search", params={"q": "77777", "limit": 1000}).json()
    total = found["total_matches"]
    seqs = [line["sequence_num"] for line in found["logs"]][::-1]  # newest first by default
    open_log(page, path)
    page.keyboard.press("Control+f")
    expect(page.locator("#lv-q")).to_be_focused()
    page.keyboard.type("77777")
    count = page.locator("#lv-count")
    expect(count).to_have_text(f"1 of {total}")
    expect(page.locator(".lv-current")).to_have_attribute("data-seq", str(seqs[0]))
    page.keyboard.press("Enter")
    expect(count).to_have_text(f"2 of {total}")
    expect(page.locator(".lv-current")).to_have_attribute("data-seq", str(seqs[1]))
    expect(page.locator(".lv-current mark")).to_have_text("77777")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    expect(count).to_have_text(f"{total} of {total}")
    expect(page.locator(".lv-current")).to_have_attribute("data-seq", str(seqs[-1]))
    assert in_view(page, seqs[-1])


def test_far_from_the_hits_enter_goes_to_the_first_one_below_the_view(
    page: Page, logs: dict[str, str], client: httpx.Client
) -> None:
    """In the middle of a log with thousands of hits above, typing shows the count and leaves
    the view alone; Enter then goes to the first hit below the view, numbered among them all."""
    open_log(page, logs["million"], "#L500000")
    expect(page.locator(".lv-row[data-pending]")).to_have_count(0)
    top = int(page.locator(".lv-row").first.get_attribute("data-seq") or 0)
    # line 1 is the attempt's header, naming the worker's pid (which may hold "99"); line n
    # after it says n - 1
    header = client.get(f"{logs['million']}/logs", params={"limit": 1}).json()["logs"][0]
    hits = [1] if "99" in header["message"] else []
    hits += [seq for seq in range(2, 1000002) if "99" in str(seq - 1)]
    below = next(i for i, seq in enumerate(hits) if seq >= top)
    page.fill("#lv-q", "99")
    expect(page.locator("#lv-count")).to_have_text(f"{len(hits):,} matches")
    expect(page.locator(".lv-row").first).to_have_attribute("data-seq", str(top))
    page.locator("#lv-q").press("Enter")
    expect(page.locator("#lv-count")).to_have_text(f"{below + 1:,} of {len(hits):,}")
    expect(page.locator(".lv-current")).to_have_attribute("data-seq", str(hits[below]))


def test_only_matches_shows_the_hits_alone(page: Page, logs: dict[str, str]) -> None:
    """With "Only matches", the rows are the hits, highlighted where the server says."""
    open_log(page, logs["million"])
    page.fill("#lv-q", "123456")
    expect(page.locator("#lv-count")).to_contain_text(" of ")
    page.click("#lv-filter")
    expect(page.locator("#lv-lines")).to_contain_text("matching")
    messages = page.locator(".lv-row .lv-msg").all_inner_texts()
    assert messages
    assert all("123456" in m for m in messages)
    assert page.locator(".lv-row mark").count() == len(messages)


def test_ansi_red_is_red_and_stays_on_its_row(page: Page, logs: dict[str, str]) -> None:
    """A red line is drawn red, the next line in the default colour; markup in a line is text."""
    open_log(page, logs["ansi"])
    red = row(page, 2).locator(".ansi-red-fg")
    expect(red).to_have_text("red line")
    r, g, b = map(int, re.findall(r"\d+", red.evaluate("e => getComputedStyle(e).color"))[:3])
    assert (r > 150, g < 130, b < 130) == (True, True, True)
    plain = row(page, 3).locator(".lv-msg")
    expect(plain).to_have_text("plain line")
    assert plain.locator("span").count() == 0
    assert row(page, 5).locator("span[class*='ansi-']").count() == 0  # the escape left open
    expect(row(page, 6)).to_contain_text("<img src=x onerror=alert(1)> & <b>not bold</b>")
    assert page.locator(".lv-list img, .lv-list b").count() == 0


def test_highlights_fall_on_the_match_and_case_is_a_toggle(
    page: Page, logs: dict[str, str]
) -> None:
    """Highlights are the server's code-point offsets, drawn on the match even after emoji;
    "Aa" makes the search match case."""
    open_log(page, logs["ansi"])
    page.fill("#lv-q", "match")
    expect(page.locator("#lv-count")).to_have_text("1 of 1")
    expect(row(page, 7).locator("mark")).to_have_text("Match")
    page.click("#lv-case")
    expect(page.locator("#lv-case")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#lv-count")).to_have_text("No matches")
    expect(page.locator(".lv-row mark")).to_have_count(0)


def test_an_attempt_opens_with_a_separator_saying_why(page: Page, logs: dict[str, str]) -> None:
    """The line that starts an attempt is drawn as a separator and says why it started."""
    open_log(page, logs["ansi"])
    opening = row(page, 1)
    expect(opening).to_have_class(re.compile(r"\blv-attempt\b"))
    expect(opening).to_contain_text("attempt 1 started on")
    expect(opening).to_contain_text("(manual run)")
    expect(opening).to_have_css("box-shadow", re.compile("inset"))
    expect(row(page, 2)).not_to_have_class(re.compile(r"\blv-attempt\b"))


def test_download_is_a_link_with_the_chosen_format_and_stream(
    page: Page, logs: dict[str, str]
) -> None:
    """The download is a plain link to the raw log: the format and stream chosen go into it,
    and the browser saves what the API sends."""
    path = logs["mixed"]
    open_log(page, path)
    page.locator(".lv-download summary").click()
    page.select_option("#lv-format", "jsonl")
    page.select_option("#lv-download-stream", "stderr")
    link = page.locator("#lv-download-link")
    expect(link).to_have_attribute("href", f"{path}/logs/raw?format=jsonl&stream=stderr")
    with page.expect_download() as saved:
        link.click()
    entries = [json.loads(line) for line in Path(saved.value.path()).read_text().splitlines()]
    assert [e["message_raw"] for e in entries] == [f"err {i}" for i in range(3, 61, 3)]
    assert {e["stream"] for e in entries} == {"stderr"}


def test_following_a_running_job_shows_every_line_once(
    page: Page, server: str, client: httpx.Client
) -> None:
    """The live stream brings every line exactly once (no page reads needed), in order, and what
    the viewer holds at the end is the download, byte for byte."""
    path = start_job(client, "follow", ["python3", "-c", follow_script(3000)])
    pages: list[str] = []
    page.on("request", lambda r: pages.append(r.url) if "/logs?" in r.url else None)
    open_log(page, path)
    expect(page.locator("#lv-live")).to_have_text(re.compile("Following|Waiting|Connecting"))
    download_link = page.locator("#lv-download-link")
    expect(download_link).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#lv-live")).to_have_text("Job completed", timeout=30_000)
    expect(download_link).not_to_have_attribute("aria-disabled", "true")
    download = client.get(f"{path}/logs/raw").text
    total = download.count("\n")
    state = viewer_state(page)
    assert (state["count"], state["duplicates"]) == (total, 0)
    expect(row(page, total)).to_contain_text("exited with code 0")
    page.evaluate(f"location.hash = '#L1-L{total}'")
    expect(page.locator("#lv-selection")).to_have_text(f"Lines 1\N{EN DASH}{total:,}")
    page.click("#lv-copy")
    expect(page.locator("#toasts")).to_contain_text(f"Copied {total:,} lines")
    assert clipboard(page) == download.removesuffix("\n")
    assert not [url for url in pages if "after=" in url], pages


def test_scrolling_up_pauses_follow(page: Page, client: httpx.Client) -> None:
    """Scrolling up while a job runs pauses following and counts the new lines in a pill; the
    pill goes back to the bottom and following resumes."""
    path = start_job(client, "pause", ["python3", "-c", follow_script(100_000, per_tick=20)])
    open_log(page, path)
    live = page.locator("#lv-live")
    expect(live).to_have_text("Following", timeout=20_000)
    until(lambda: viewer_state(page)["count"] >= 300)
    page.locator(".lv-viewport").hover()
    page.mouse.wheel(0, -2000)
    expect(live).to_have_text("Paused")
    pill = page.locator("#lv-pill")
    expect(pill).to_have_text(re.compile(r"^[\d,]+ new lines? — jump to bottom$"))
    shown = page.locator(".lv-row").first.get_attribute("data-seq")
    expect(pill).not_to_have_text(pill.inner_text())  # the count grows, the rows stay put
    assert page.locator(".lv-row").first.get_attribute("data-seq") == shown
    pill.click()
    expect(live).to_have_text("Following")
    expect(pill).to_be_hidden()
    client.post(f"{path}/cancel")


def test_a_dropped_connection_resumes_without_a_gap(
    chromium: Browser, server: str, watch: Watch, owner: dict[str, Any], client: httpx.Client
) -> None:
    """Connections cut mid-stream (as a restarted proxy would): the viewer says it is
    reconnecting, resumes from the last line it has, and ends with every line exactly once."""
    path = start_job(client, "dropped", ["python3", "-c", follow_script(4000, per_tick=50)])
    with proxied(int(server.rsplit(":", 1)[1])) as proxy:
        page = through(chromium, proxy, watch, owner)
        pages: list[str] = []
        page.on("request", lambda r: pages.append(r.url) if "/logs?" in r.url else None)
        # the streams the cut breaks end with a console error; no other request may fail
        page.on(
            "request", lambda r: watch.expected_failures.add(r.url) if "/events" in r.url else None
        )
        open_log(page, path)
        expect(page.locator("#lv-live")).to_have_text("Following", timeout=20_000)
        until(lambda: viewer_state(page)["count"] >= 1000)
        assert proxy.cut() >= 1
        expect(page.locator("#lv-live")).to_have_text("Reconnecting…")
        expect(page.locator("#lv-live")).to_have_text("Job completed", timeout=30_000)
        download = client.get(f"{path}/logs/raw").text
        state = viewer_state(page)
        # (the download's end, on a mismatch: an error tail would say what the store said)
        got = (state["count"], state["duplicates"])
        assert got == (download.count("\n"), 0), download[-500:]
        page.evaluate(f"location.hash = '#L1-L{state['count']}'")
        page.click("#lv-copy")
        expect(page.locator("#toasts")).to_contain_text("Copied")
        assert clipboard(page) == download.removesuffix("\n")
        assert not [url for url in pages if "after=" in url], pages
        page.context.close()


def through(chromium: Browser, proxy: Proxy, watch: Watch, owner: dict[str, Any]) -> Page:
    """A page of the owner reaching the server through `proxy` (cookies are per host)."""
    page = new_page(chromium, proxy.url, watch, permissions=CLIPBOARD)
    page.context.add_cookies([{**c, "url": proxy.url} for c in owner["cookies"]])
    return page


def test_the_stream_filter_shows_one_stream(page: Page, logs: dict[str, str]) -> None:
    """stderr shows the stderr lines alone, each marked; stdout none of them."""
    open_log(page, logs["mixed"])
    page.select_option("#lv-stream", "stderr")
    expect(page.locator("#lv-lines")).to_contain_text("20 on stderr")
    expect(page.locator(".lv-row")).to_have_count(20)
    expect(page.locator(".lv-row.lv-stderr")).to_have_count(20)
    expect(page.locator(".lv-row").first).to_contain_text("err 3")
    page.select_option("#lv-stream", "stdout")
    expect(page.locator("#lv-lines")).to_contain_text("61 on stdout")
    expect(page.locator(".lv-row.lv-stderr")).to_have_count(0)


def test_wrap_wraps_long_lines_and_is_remembered(page: Page, logs: dict[str, str]) -> None:
    """Wrap makes a long line as tall as it needs; a reload keeps the choice."""
    open_log(page, logs["mixed"])
    page.locator(".lv-viewport").focus()
    page.keyboard.press("End")
    long = page.locator(".lv-row", has_text="x" * 100)
    height = long.evaluate("e => e.getBoundingClientRect().height")
    page.click("#lv-wrap")
    expect(page.locator("#lv-wrap")).to_have_attribute("aria-pressed", "true")
    expect(long).to_have_css("white-space", "pre-wrap")
    assert long.evaluate("e => e.getBoundingClientRect().height") > 3 * height
    page.reload()
    expect(page.locator("#lv-wrap")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".lv-row").first).to_have_css("white-space", "pre-wrap")


def test_timestamps_toggle_between_off_clock_and_since_start(
    page: Page, logs: dict[str, str]
) -> None:
    """Off: no time; then the clock time of each line; then the time since the job started."""
    open_log(page, logs["ansi"])
    expect(page.locator(".lv-ts")).to_have_count(0)
    page.click("#lv-time")
    expect(row(page, 2).locator(".lv-ts")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    page.click("#lv-time")
    expect(row(page, 2).locator(".lv-ts")).to_have_text(re.compile(r"^\+0:0\d\.\d{3}$"))
    page.click("#lv-time")
    expect(page.locator(".lv-ts")).to_have_count(0)


def test_copy_copies_exactly_the_selected_lines(page: Page, logs: dict[str, str]) -> None:
    """Click a line number, shift-click another: the URL names the range, and copy gives those
    lines' text without numbers or escape codes."""
    open_log(page, logs["ansi"])
    page.locator(".lv-num[data-seq='2']").click()
    page.locator(".lv-num[data-seq='4']").click(modifiers=["Shift"])
    expect(page).to_have_url(re.compile(r"#L2-L4$"))
    expect(page.locator(".lv-selected")).to_have_count(3)
    page.click("#lv-copy")
    expect(page.locator("#toasts")).to_contain_text("Copied 3 lines")
    assert clipboard(page) == "red line\nplain line\nbold green"


def test_a_failed_job_opens_at_its_first_error(
    page: Page, logs: dict[str, str], client: httpx.Client
) -> None:
    """The first line naming an error is in view when the page opens, and the bar says where."""
    # stdout and stderr are separate pipes: where the stderr line lands among the stdout lines
    # is the reading's business (line 3,002 or later), so the stored log says where it is
    found = client.get(f"{logs['failing']}/logs/search", params={"q": "the disk is full"})
    seq = found.json()["logs"][0]["sequence_num"]
    open_log(page, logs["failing"])
    expect(page.locator("#lv-first-error")).to_have_text(f"First error at line {seq:,}")
    expect(row(page, seq)).to_contain_text("ERROR: the disk is full")
    assert in_view(page, seq)


def test_a_log_that_is_not_kept_says_so(page: Page, client: httpx.Client) -> None:
    """A finished job of a workflow keeping no logs shows why there are no lines."""
    path = start_job(client, "unkept", ["echo", "gone"], log_retention=False)
    finished(client, path)
    page.goto(f"/ui{path}")
    expect(page.locator("#lv-banner")).to_contain_text("keeps no logs")
    expect(page.locator(".lv-frame")).to_be_hidden()
    expect(page.locator("#lv-download-link")).to_have_attribute("aria-disabled", "true")
