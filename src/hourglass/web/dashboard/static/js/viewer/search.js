// The viewer's own search (not the browser's Ctrl+F, which cannot see rows that are not drawn):
// Ctrl+F or "/" focus its box; the server counts every match ("X of Y"); Enter and Shift+Enter
// walk the hits anywhere in the log, the view jumping to each with lines around it; regex and
// case toggles; "Only matches" shows the hits alone. The hits are a KeysetSource over the search
// route, so walking a million of them keeps one page per thousand.
import { KeysetSource } from "./source.js";

const DEBOUNCE_MS = 150;
// pages of hits read, while typing, to find the first hit at or below the view; past them the
// count is shown and Enter goes on looking
const LOCATE_PAGES = 4;

export class Search {
  constructor(root, viewer) {
    this.viewer = viewer;
    this.form = root.querySelector("#lv-search");
    this.input = root.querySelector("#lv-q");
    this.count = root.querySelector("#lv-count");
    this.toggles = {
      regex: root.querySelector("#lv-regex"),
      caseSensitive: root.querySelector("#lv-case"),
      filter: root.querySelector("#lv-filter"),
    };
    this.hits = null; // KeysetSource of the current query's hits
    this.index = -1; // the current hit's row in `hits`
    this.from = undefined; // where Enter looks from while no hit is current (a line's seq)
    this.locating = null; // the first hit of a new search being looked for
    this.runs = 0;
    this.stale = false;
    this.timer = 0;
    this.form.addEventListener("submit", (event) => event.preventDefault());
    this.input.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
    });
    this.input.addEventListener("keydown", (event) => this.onKey(event));
    for (const [name, button] of Object.entries(this.toggles)) {
      button.addEventListener("click", () => {
        button.setAttribute("aria-pressed", String(!this.on(name)));
        if (name === "filter") this.viewer.showMatchesOnly(this.on("filter") ? this.hits : null);
        else this.run();
      });
    }
    root.querySelector("#lv-next").addEventListener("click", () => this.step(1));
    root.querySelector("#lv-prev").addEventListener("click", () => this.step(-1));
    document.addEventListener("keydown", (event) => this.onGlobalKey(event));
  }

  on(name) {
    return this.toggles[name].getAttribute("aria-pressed") === "true";
  }

  get query() {
    return this.hits ? this.hits.query : null;
  }

  onKey(event) {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(this.timer);
      if (this.stale || (this.input.value && this.input.value !== this.query?.q)) this.run(event.shiftKey ? -1 : 1);
      else this.step(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape" && this.input.value) {
      event.preventDefault();
      this.input.value = "";
      this.run();
    }
  }

  // Ctrl+F (unless the box already has focus: a second one is the browser's) and "/"
  onGlobalKey(event) {
    const typing = event.target.closest?.("input, textarea, select, [contenteditable]");
    const find = (event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "f";
    if ((find && event.target !== this.input) || (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey)) {
      event.preventDefault();
      this.input.focus();
      this.input.select();
    }
  }

  say(text, problem = false) {
    this.count.textContent = text;
    this.count.classList.toggle("problem", problem);
  }

  counter() {
    if (!this.hits) return this.say("");
    const total = this.hits.count.toLocaleString();
    if (!this.hits.count) return this.say("No matches");
    const more = this.stale ? "+" : "";
    const noun = this.hits.count === 1 ? "match" : "matches";
    this.say(this.index < 0 ? `${total}${more} ${noun}` : `${(this.index + 1).toLocaleString()} of ${total}${more}`);
  }

  // search again: a new query, a toggle, the stream filter, or lines that arrived meanwhile;
  // `direction` then moves from the hit shown (Enter / Shift+Enter); `move: false` only counts
  // again (the job ended: the view stays where the reader is)
  async run(direction = 0, { move = true } = {}) {
    const run = ++this.runs;
    const q = this.input.value;
    const previous = this.index >= 0 ? this.hits?.seqOf(this.index) : undefined;
    if (!q) {
      this.drop();
      return;
    }
    const query = {
      q,
      regex: this.on("regex"),
      caseSensitive: this.on("caseSensitive"),
      stream: this.viewer.stream || undefined,
    };
    const hits = new KeysetSource(this.viewer.api, query, { lastSeq: this.viewer.lastSeq() });
    // rows drawn before a page of hits arrived get their highlights then
    hits.onload = () => this.viewer.redraw(this.viewer.source !== hits);
    this.say("Searching…");
    try {
      await hits.open();
    } catch (error) {
      if (run !== this.runs) return;
      this.hits = null;
      this.viewer.setHits(null);
      this.say(error.about?.("q") || error.message, true);
      return;
    }
    if (run !== this.runs) return;
    this.hits = hits;
    this.stale = false;
    this.index = -1;
    this.from = undefined;
    this.viewer.setHits(hits);
    if (this.on("filter")) this.viewer.showMatchesOnly(hits);
    this.counter();
    if (!hits.count) return;
    const from = previous ?? this.viewer.topSeq();
    // Enter pressed meanwhile waits for this first hit (it would start from nothing)
    const found = from === undefined ? Promise.resolve(0) : hits.locate(from, LOCATE_PAGES);
    this.locating = found.catch(() => null);
    let row;
    try {
      row = await found;
    } catch (error) {
      if (run === this.runs) this.say(error.message, true);
      return;
    }
    if (run !== this.runs) return;
    if (hits.exhausted) {
      this.from = from; // far from the hits read so far: Enter goes on from the view
      this.counter();
      return;
    }
    if (!move) {
      this.index = row !== null && hits.seqOf(row) === previous ? row : -1;
      this.counter();
      return;
    }
    if (row === null) row = 0;
    if (previous !== undefined && direction) {
      const exact = hits.seqOf(row) === previous;
      row = direction > 0 ? row + (exact ? 1 : 0) : row - 1;
    }
    await this.go(((row % hits.count) + hits.count) % hits.count, run);
  }

  drop() {
    this.hits = null;
    this.index = -1;
    this.from = undefined;
    this.stale = false;
    this.viewer.setHits(null);
    if (this.on("filter")) this.viewer.showMatchesOnly(null);
    this.counter();
  }

  async step(direction) {
    await this.locating;
    if (!this.hits || !this.hits.count) return;
    if (this.stale) return this.run(direction);
    const count = this.hits.count;
    if (this.index < 0 && this.from !== undefined) {
      const run = this.runs;
      this.say("Searching…");
      const row = await this.hits.locate(this.from);
      if (run !== this.runs) return;
      this.from = undefined;
      const next = row === null ? 0 : direction > 0 ? row : row - 1;
      return this.go((next + count) % count, run);
    }
    const next = this.index < 0 ? (direction > 0 ? 0 : count - 1) : (this.index + direction + count) % count;
    await this.go(next, this.runs);
  }

  async go(index, run) {
    this.index = index;
    this.counter();
    const [line] = await this.hits.lines(index, index);
    if (run !== this.runs || this.index !== index || !line) return;
    this.viewer.showHit(line, index);
  }

  // lines were added to the log while a search was shown: its count is behind
  grew() {
    if (!this.hits || this.stale) return;
    this.stale = true;
    this.counter();
  }
}
