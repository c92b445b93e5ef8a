// Links to lines and copying them. Clicking a line number selects that line, shift-clicking
// another selects the range; the URL becomes #L120 or #L120-L140, and opening such a URL shows
// the lines selected. The copy button (or Ctrl+C with no text selected) copies the selected
// lines as plain text: messages only, no numbers, no escape codes.
import { toast } from "../toasts.js";
import { stripAnsi } from "./ansi.js";

const HASH = /^#L(\d{1,19})(?:-L(\d{1,19}))?$/;
export const COPY_LIMIT = 100000; // lines: past it, the download is the way

export function parseHash(hash) {
  const match = HASH.exec(hash);
  if (!match) return null;
  const a = Number(match[1]);
  const b = match[2] ? Number(match[2]) : a;
  return a >= 1 ? { from: Math.min(a, b), to: Math.max(a, b) } : null;
}

export class Selection {
  constructor(root, viewer) {
    this.viewer = viewer;
    this.range = null; // {from, to}: sequence numbers
    this.anchor = null;
    this.button = root.querySelector("#lv-copy");
    this.label = root.querySelector("#lv-selection");
    root.querySelector(".lv-list").addEventListener("click", (event) => this.onClick(event));
    this.button.addEventListener("click", () => this.copy());
    window.addEventListener("hashchange", () => this.fromHash(true));
    root.addEventListener("keydown", (event) => {
      const key = event.key.toLowerCase();
      if ((event.ctrlKey || event.metaKey) && key === "c" && this.range && this.nothingSelected()) {
        event.preventDefault();
        this.copy();
      }
    });
  }

  nothingSelected() {
    const selected = window.getSelection();
    return !selected || selected.isCollapsed;
  }

  has(seq) {
    return this.range !== null && seq >= this.range.from && seq <= this.range.to;
  }

  // the range in the URL, if any; `jump` scrolls to it
  fromHash(jump) {
    const range = parseHash(location.hash);
    if (!range) return null;
    this.anchor = range.from;
    this.set(range, false);
    if (jump) this.viewer.showLine(range.from);
    return range;
  }

  onClick(event) {
    const link = event.target.closest(".lv-num[data-seq]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    const seq = Number(link.dataset.seq);
    if (event.shiftKey && this.anchor !== null) {
      this.set({ from: Math.min(this.anchor, seq), to: Math.max(this.anchor, seq) }, true);
    } else if (this.range && this.range.from === seq && this.range.to === seq) {
      this.anchor = null;
      this.set(null, true);
    } else {
      this.anchor = seq;
      this.set({ from: seq, to: seq }, true);
    }
    window.getSelection()?.removeAllRanges(); // shift-click selects text as well
  }

  set(range, toUrl) {
    this.range = range;
    if (toUrl) {
      const hash = !range ? "" : range.from === range.to ? `#L${range.from}` : `#L${range.from}-L${range.to}`;
      history.replaceState(history.state, "", `${location.pathname}${location.search}${hash}`);
    }
    this.button.disabled = !range;
    this.button.textContent = !range ? "Copy lines" : range.from === range.to ? "Copy line" : "Copy lines";
    this.label.textContent = !range ? "" : range.from === range.to
      ? `Line ${range.from.toLocaleString()}`
      : `Lines ${range.from.toLocaleString()}–${range.to.toLocaleString()}`;
    this.viewer.selectionChanged();
  }

  async copy() {
    if (!this.range) return;
    const { from, to } = this.range;
    if (to - from + 1 > COPY_LIMIT) {
      toast(`That is more than ${COPY_LIMIT.toLocaleString()} lines: download the log instead.`, "warn");
      return;
    }
    this.button.disabled = true;
    try {
      const lines = await this.viewer.linesBetween(from, to);
      const text = lines.map((line) => stripAnsi(line.message)).join("\n");
      await navigator.clipboard.writeText(text);
      toast(lines.length === 1 ? "Copied 1 line" : `Copied ${lines.length.toLocaleString()} lines`);
    } catch (error) {
      toast(`Could not copy: ${error.message}`, "error");
    } finally {
      this.button.disabled = !this.range;
    }
  }
}
