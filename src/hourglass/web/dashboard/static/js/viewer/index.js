// The job page's log viewer: the modules of this folder put together on #log-viewer.
//
//   source.js   rows from the API (SeqSource: the whole log; KeysetSource: a stream, or matches)
//   scroller.js which rows are drawn, and where      rows.js / ansi.js   how a row looks
//   live.js     the event stream while the job runs  search.js  the search box and its hits
//   selection.js #L links and copying                 toolbar.js  filters, toggles, download
//
// It opens where the reader wants to be: the lines of a #L link, a failed job's first error
// (from GET …/logs/summary), a running job's end (following it), or the top.
import { Live } from "./live.js";
import { LogApi } from "./api.js";
import { prefs } from "./prefs.js";
import { renderRow } from "./rows.js";
import { Scroller } from "./scroller.js";
import { Search } from "./search.js";
import { Selection } from "./selection.js";
import { BLOCK, KeysetSource, SeqSource } from "./source.js";
import { Toolbar } from "./toolbar.js";

const FINISHED = new Set(["COMPLETED", "FAILED", "CANCELED"]);
const LOCATE_PAGES = 50;

class Viewer {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.api = new LogApi(data.api);
    this.status = data.status;
    this.logState = data.logState;
    this.logLines = Number(data.logLines) || 0;
    this.retained = data.retained !== "false"; // the workflow keeps logs (else: live only)
    this.startedAt = data.startedAt ? Date.parse(data.startedAt) : null;
    this.multiDay = data.multiDay === "true";
    this.readable = true;
    this.base = null; // SeqSource: every line
    this.streamView = null; // KeysetSource: one stream
    this.matchesOnly = null; // KeysetSource: the hits, shown alone
    this.hits = null;
    this.source = null; // what is drawn now
    this.stream = "";
    this.currentHit = null;
    this.target = null; // the line the page opened at (a failed job's first error)
    this.following = false;
    this.unseen = 0;
    this.live = null;
    this.liveState = "";
    this.viewContext = null;
    this.banner = root.querySelector("#lv-banner");
    this.pill = root.querySelector("#lv-pill");
    this.liveLabel = root.querySelector("#lv-live");
    this.linesLabel = root.querySelector("#lv-lines");
    this.errorChip = root.querySelector("#lv-first-error");
    this.scroller = new Scroller({
      viewport: root.querySelector(".lv-viewport"),
      layer: root.querySelector(".lv-layer"),
      list: root.querySelector(".lv-list"),
      space: root.querySelector(".lv-space"),
      renderRow: (row) => this.renderRow(row),
      onRender: (first, last) => this.source?.ensure(first, last),
      onMove: (byUser) => this.moved(byUser),
    });
    this.toolbar = new Toolbar(root, this);
    this.search = new Search(root, this);
    this.selection = new Selection(root, this);
    this.setWrap(Boolean(prefs.get("wrap")));
    this.pill.addEventListener("click", () => this.toEnd());
    this.errorChip.addEventListener("click", () => {
      this.target = Number(this.errorChip.dataset.seq);
      this.redraw(true);
      this.showLine(this.target, "center");
    });
  }

  get finished() {
    return FINISHED.has(this.status);
  }

  // drawing

  view() {
    this.viewContext ??= {
      timestamps: this.toolbar.timestamps,
      startedAt: this.startedAt,
      multiDay: this.multiDay,
      currentHit: this.currentHit,
      target: this.target,
      highlights: (line) => line.highlights ?? this.hits?.lineBySeq(line.sequence_num)?.highlights,
      selected: (seq) => this.selection.has(seq),
    };
    return this.viewContext;
  }

  renderRow(row) {
    const line = this.source.line(row);
    return renderRow(line, line ? undefined : this.source.seqOf(row), this.view());
  }

  // `all`: every row drawn again (a toggle, new hits); else the rows whose lines arrived
  redraw(all = false) {
    if (all) {
      this.viewContext = null;
      this.scroller.invalidate();
    } else {
      this.scroller.refreshPending();
    }
  }

  setWrap(wrap) {
    this.root.classList.toggle("lv-wrapped", wrap);
    this.scroller.setWrap(wrap);
  }

  selectionChanged() {
    for (const [, element] of this.scroller.rendered) {
      const seq = Number(element.dataset.seq);
      element.classList.toggle("lv-selected", this.selection.has(seq));
    }
  }

  say(text, tone = "info", action = null) {
    this.banner.replaceChildren();
    this.banner.hidden = !text;
    this.banner.className = `lv-banner tone-${tone}`;
    if (!text) return;
    const words = document.createElement("span");
    words.textContent = text;
    this.banner.append(words);
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = action.label;
      button.addEventListener("click", action.run);
      this.banner.append(" ", button);
    }
  }

  counts() {
    const total = this.base ? this.base.count : 0;
    let text = `${total.toLocaleString()} line${total === 1 ? "" : "s"}`;
    if (this.source && this.source !== this.base) {
      const what = this.source === this.matchesOnly ? "matching" : `on ${this.stream}`;
      text += ` · ${this.source.count.toLocaleString()} ${what}`;
    }
    this.linesLabel.textContent = text;
    const last = this.base ? this.base.seqOf(Math.max(0, this.base.count - 1)) : 1;
    this.root.style.setProperty("--lv-digits", String(Math.max(3, String(last).length)));
    this.root.style.setProperty("--lv-rows", String(total + 1)); // room for a scrollbar
    const error = this.source?.error;
    if (error && !this.banner.dataset.sticky) this.say(`The log could not be read: ${error.message}`, "bad");
  }

  showLive() {
    const labels = {
      connecting: "Connecting…",
      reconnecting: "Reconnecting…",
      waiting: "Waiting for the job to start…",
    };
    let text = labels[this.liveState] || "";
    if (this.liveState === "live") text = this.following ? "Following" : "Paused";
    this.liveLabel.textContent = text;
    this.root.dataset.live = this.liveState === "live" ? (this.following ? "following" : "paused") : this.liveState;
    this.pill.hidden = this.following || !this.unseen;
    this.pill.textContent = `${this.unseen.toLocaleString()} new line${this.unseen === 1 ? "" : "s"} — jump to bottom`;
  }

  // which rows are shown

  use(source) {
    this.source = source;
    source.onload = () => {
      this.redraw();
      this.counts();
    };
    this.scroller.setCount(source.count, { follow: this.following });
    this.viewContext = null;
    this.scroller.reset();
    this.counts();
  }

  async display(anchor) {
    const source = this.matchesOnly || this.streamView || this.base;
    if (!source || source === this.source) return;
    this.use(source);
    if (this.following) return this.scroller.toEnd(false);
    const row = anchor === undefined ? 0 : await source.locate(anchor, LOCATE_PAGES);
    if (this.source === source) this.scroller.scrollToRow(row ?? 0, "top");
  }

  topSeq() {
    return this.source?.seqOf(Math.floor(this.scroller.shownTop));
  }

  lastSeq() {
    return this.base && this.base.count ? this.base.seqOf(this.base.count - 1) : Infinity;
  }

  async setStream(stream) {
    const anchor = this.topSeq();
    this.stream = stream;
    this.streamView = null;
    if (stream) {
      const view = new KeysetSource(this.api, { stream }, { lastSeq: this.lastSeq() });
      await view.open({ withEnd: !this.finished });
      if (this.stream !== stream) return;
      this.streamView = view;
    }
    if (this.search.hits) this.search.run(0, { move: false });
    if (!this.matchesOnly) await this.display(anchor);
  }

  setHits(hits) {
    this.hits = hits;
    this.currentHit = null;
    if (this.matchesOnly) this.matchesOnly = hits;
    this.redraw(true);
    if (this.matchesOnly || !hits) this.display(this.topSeq());
  }

  showMatchesOnly(hits) {
    const anchor = this.currentHit ?? this.topSeq();
    this.matchesOnly = hits;
    this.display(anchor);
  }

  showHit(line, index) {
    this.currentHit = line.sequence_num;
    this.redraw(true);
    if (this.source === this.matchesOnly) {
      this.following = false;
      this.scroller.scrollToRow(index, "center");
    } else {
      this.showLine(line.sequence_num, "center");
    }
  }

  async showLine(seq, where = "context") {
    if (!this.source) return;
    this.following = false;
    const source = this.source;
    const row = source === this.base ? source.nearestRow(seq) : await source.locate(seq, LOCATE_PAGES);
    if (row !== null && row !== undefined && this.source === source) this.scroller.scrollToRow(row, where);
    this.showLive();
  }

  // a #L link: the page scrolls to the viewer (no element has that id), the viewer to the line
  showLink(seq) {
    this.root.scrollIntoView({ block: "start" });
    this.showLine(seq, "center");
  }

  async linesBetween(from, to) {
    const source = this.source;
    if (source === this.base) {
      const last = source.rowOf(to) ?? source.nearestRow(to) - 1;
      const lines = await source.lines(source.nearestRow(from), last);
      return lines.filter((line) => line.sequence_num >= from && line.sequence_num <= to);
    }
    const first = await source.locate(from);
    if (first === null) return [];
    const after = await source.locate(to + 1);
    const lines = await source.lines(first, (after ?? source.count) - 1);
    return lines.filter((line) => line.sequence_num <= to);
  }

  toStart() {
    this.following = false;
    this.scroller.toStart();
  }

  toEnd() {
    this.unseen = 0;
    this.following = Boolean(this.live) && !this.finished;
    this.scroller.toEnd(false);
    this.showLive();
  }

  moved(byUser) {
    if (!byUser || !this.live || this.finished) return;
    this.following = this.scroller.atEnd();
    if (this.following) this.unseen = 0;
    this.showLive();
  }

  // opening

  async start() {
    this.toolbar.syncDownload();
    const gone = this.logState === "expired" || this.logState === "disabled";
    if (this.logState === "expired" || (this.finished && (gone || !this.retained))) {
      return this.unreadable(this.logState === "expired"
        ? "This job's log has expired: the workflow keeps logs for a limited number of days."
        : "This workflow keeps no logs: the lines were shown live while the job ran, and deleted when it ended.");
    }
    const link = this.selection.fromHash(false);
    let summary = null;
    if (this.retained && (this.status === "FAILED" || this.logState === "truncated")) {
      try {
        summary = await this.api.summary();
      } catch (error) {
        if (error.status === 412) return this.unreadable(error.message);
      }
    }
    if (this.finished) this.openFinished(summary, link);
    else await this.openLive(summary, link);
    this.truncation(summary);
  }

  unreadable(text) {
    this.readable = false;
    this.banner.dataset.sticky = "true";
    this.say(text, "warn");
    this.root.querySelector(".lv-frame").hidden = true;
    this.toolbar.syncDownload();
  }

  truncation(summary) {
    const omitted = summary?.omitted;
    if (!omitted) return;
    this.banner.dataset.sticky = "true";
    this.say(
      `This log passed the per-job size cap: its first and last parts are kept, and line ${omitted.sequence_num.toLocaleString()} says what was left out between them.`,
      "warn",
      { label: "Show it", run: () => this.showLine(omitted.sequence_num, "center") },
    );
  }

  openFinished(summary, link) {
    const error = this.status === "FAILED" ? summary?.first_error : null;
    if (error && !link) this.target = error.sequence_num;
    this.base = new SeqSource(this.api, { count: this.logLines, gap: summary?.omitted });
    this.use(this.base);
    if (this.root.dataset.preloaded === "true") this.base.ensure(0, 0); // the page fetched it
    if (!this.logLines) this.say("The job wrote no output.", "muted");
    if (error) this.pointAt(error);
    if (link) this.showLink(link.from);
    else if (error) this.showLine(error.sequence_num, "center");
    else this.scroller.setTop(0);
  }

  pointAt(error) {
    this.errorChip.hidden = false;
    this.errorChip.dataset.seq = error.sequence_num;
    this.errorChip.textContent = `First error at line ${error.sequence_num.toLocaleString()}`;
    this.errorChip.title = error.message;
  }

  async openLive(summary, link) {
    let lines = [];
    const stored = this.retained; // else kept only while the job runs: the stream replays them
    if (stored) {
      lines = (await this.api.page({ order: "desc", limit: BLOCK })).logs.reverse();
    } else {
      this.banner.dataset.sticky = "true";
      this.say("This workflow keeps no logs: the lines are shown live, and deleted when the job ends.", "warn");
    }
    this.base = new SeqSource(this.api, { count: 0, gap: summary?.omitted });
    this.base.fetchable = stored;
    this.base.append(lines);
    this.following = !link;
    this.use(this.base);
    if (link) this.showLink(link.from);
    else this.scroller.toEnd(false);
    this.live = new Live(this.api, {
      onLines: (more) => this.arrived(more),
      onStatus: (status) => this.statusChanged(status),
      onEnd: (end) => this.ended(end),
      onState: (state) => {
        this.liveState = state === "live" && !["RUNNING"].includes(this.status) && !this.received ? "waiting" : state;
        this.showLive();
      },
    });
    this.received = lines.length;
    this.live.start(lines.length ? lines.at(-1).sequence_num : 0);
  }

  arrived(lines) {
    this.received += lines.length;
    if (this.startedAt === null) this.startedAt = Date.parse(lines[0].timestamp);
    if (this.liveState === "waiting") this.liveState = "live";
    const before = this.source.count;
    this.base.append(lines);
    if (this.source !== this.base) this.source.append(lines);
    const added = this.source.count - before;
    this.scroller.setCount(this.source.count, { follow: this.following });
    if (!this.following) this.unseen += added;
    this.redraw();
    this.counts();
    this.showLive();
    this.search.grew();
  }

  statusChanged(status) {
    this.status = status;
    if (status === "RUNNING" && this.liveState === "waiting") this.liveState = "live";
    this.showLive();
  }

  async ended(end) {
    this.status = end.job_status;
    this.following = false;
    this.unseen = 0;
    this.liveState = "";
    this.liveLabel.textContent = `Job ${end.job_status.toLowerCase()}`;
    this.pill.hidden = true;
    this.root.dataset.live = "ended";
    if (!this.retained) {
      this.readable = false;
      this.say("This workflow keeps no logs: the server deleted these lines when the job ended; they stay on this page until it is closed.", "warn");
    }
    this.toolbar.syncDownload();
    if (this.search.hits) this.search.run(0, { move: false });
    if (end.job_status === "FAILED") {
      try {
        const summary = await this.api.summary();
        if (summary.first_error) this.pointAt(summary.first_error);
      } catch (error) { /* no summary: the chip stays hidden */ }
    }
  }
}

const root = document.getElementById("log-viewer");
if (root) {
  const viewer = new Viewer(root);
  root.hgViewer = viewer; // for the browser tests and the benchmark: what the viewer holds
  viewer.start().catch((error) => viewer.say(`The log could not be loaded: ${error.message}`, "bad"));
}
