// Virtual scrolling for any number of rows: only the rows in view are in the DOM, and the
// scrollbar covers the whole log even past the browser's element-height limits.
//
// The position is `top`, a fractional row index. The native scrollbar moves over a spacer of
// min(rows x row height, MAX_SPACE) pixels, mapped linearly onto 0..maxTop, so dragging the thumb
// reaches any row. Where that mapping is not 1:1 (a scaled spacer, or wrapped rows of varying
// height) the wheel and the keys move `top` by real pixels and rows instead, and the thumb
// follows; otherwise native scrolling is left alone. Rows live in a sticky layer translated by
// the fraction of the first row.
const MAX_SPACE = 8_000_000; // px: under every browser's element-height limit

export class Scroller {
  constructor({ viewport, layer, list, space, renderRow, onRender, onMove }) {
    Object.assign(this, { viewport, layer, list, space, renderRow, onRender, onMove });
    this.count = 0;
    this.top = 0;
    this.shownTop = 0;
    this.wrap = false;
    this.rowH = 20;
    this.viewH = 0;
    this.rendered = new Map(); // row -> element
    this.heights = new Map(); // row -> measured px (wrapped rows)
    this.expected = null; // scrollTop we set ourselves: its scroll event is not the user's
    this.frame = 0;
    viewport.addEventListener("scroll", () => this.onScroll(), { passive: true });
    viewport.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    viewport.addEventListener("keydown", (event) => this.onKey(event));
    new ResizeObserver(() => this.measure()).observe(viewport);
    this.measure();
  }

  measure() {
    const probe = document.createElement("div");
    probe.className = "lv-row";
    probe.textContent = "0";
    this.list.append(probe);
    this.rowH = probe.getBoundingClientRect().height || 20;
    probe.remove();
    const width = this.layer.clientWidth;
    if (width !== this.width) this.heights.clear();
    this.width = width;
    this.viewH = this.layer.clientHeight;
    this.resize();
  }

  get scaled() {
    return this.count * this.rowH > MAX_SPACE;
  }

  maxTop() {
    return Math.max(0, this.count - this.viewH / this.rowH);
  }

  spaceHeight() {
    return Math.min(this.count * this.rowH, MAX_SPACE);
  }

  scrollRange() {
    return Math.max(0, this.spaceHeight() - this.viewH);
  }

  resize() {
    this.space.style.height = `${Math.max(0, this.spaceHeight() - this.viewH)}px`;
    this.setTop(this.top, false, false);
  }

  // the rows are asked for when drawn (not at once: the caller may move elsewhere first)
  setCount(count, { follow = false } = {}) {
    this.count = count;
    this.space.style.height = `${Math.max(0, this.spaceHeight() - this.viewH)}px`;
    this.setTop(follow ? this.maxTop() : this.top, false, false);
  }

  atEnd() {
    return this.top >= this.maxTop() - 0.01;
  }

  // move to fractional row `top`; `byUser` tells listeners (follow pauses when the user leaves
  // the end); `ask`: the rows now in view are asked for at once, not at the next frame
  setTop(top, byUser = false, ask = true) {
    this.top = Math.min(Math.max(0, top), this.maxTop());
    const range = this.scrollRange();
    const max = this.maxTop();
    const scrollTop = max ? (this.top / max) * range : 0;
    if (Math.abs(this.viewport.scrollTop - scrollTop) >= 1) {
      this.viewport.scrollTop = scrollTop;
      this.expected = this.viewport.scrollTop;
    }
    if (ask) this.want();
    this.schedule();
    this.onMove(byUser);
  }

  // show `row`: "top" puts it first, "context" a few rows below the top, "center" mid-view
  scrollToRow(row, where = "context") {
    const rows = this.viewH / this.rowH;
    const above = where === "top" ? 0 : where === "center" ? rows / 2 - 0.5 : Math.min(5, rows / 4);
    this.setTop(row - Math.floor(above));
  }

  toStart() {
    this.setTop(0, true);
  }

  toEnd(byUser = true) {
    this.setTop(this.maxTop(), byUser);
  }

  visible() {
    return { first: Math.floor(this.shownTop), rows: Math.ceil(this.viewH / this.rowH) };
  }

  // ask for the rows about to be drawn now, not at the next frame
  want() {
    const first = Math.floor(this.top);
    this.onRender(first, Math.min(this.count - 1, first + Math.ceil(this.viewH / this.rowH)));
  }

  onScroll() {
    const scrollTop = this.viewport.scrollTop;
    if (this.expected !== null && Math.abs(scrollTop - this.expected) < 1) {
      this.expected = null;
      return;
    }
    this.expected = null;
    const range = this.scrollRange();
    this.top = range ? (scrollTop / range) * this.maxTop() : 0;
    if (scrollTop >= range - 1) this.top = this.maxTop();
    this.want();
    this.schedule();
    this.onMove(true);
  }

  onWheel(event) {
    if (!(this.scaled || this.wrap) || event.ctrlKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) return;
    event.preventDefault();
    const unit = event.deltaMode === 1 ? this.rowH : event.deltaMode === 2 ? this.viewH : 1;
    this.moveBy(event.deltaY * unit);
  }

  onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const page = Math.max(1, Math.floor(this.viewH / this.rowH) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, " ": event.shiftKey ? -page : page };
    if (event.key === "Home") this.toStart();
    else if (event.key === "End") this.toEnd();
    else if (event.key in moves) this.moveRows(moves[event.key]);
    else return;
    event.preventDefault();
  }

  moveRows(rows) {
    this.setTop(this.shownTop + rows, true);
  }

  // scroll by `px` pixels of real rows (wrapped rows are as tall as they were drawn)
  moveBy(px) {
    if (!this.wrap) {
      this.setTop(this.shownTop + px / this.rowH, true);
      return;
    }
    let row = Math.floor(this.shownTop);
    let pos = (this.shownTop - row) * this.heightOf(row) + px;
    while (pos < 0 && row > 0) pos += this.heightOf(--row);
    while (pos >= this.heightOf(row) && row < this.count - 1) pos -= this.heightOf(row++);
    this.setTop(row + Math.max(0, pos) / this.heightOf(row), true);
  }

  heightOf(row) {
    return this.heights.get(row) || this.rowH;
  }

  setWrap(wrap) {
    this.wrap = wrap;
    this.heights.clear();
    this.invalidate();
  }

  // other rows altogether (another source): what was measured of the old ones is forgotten
  reset() {
    this.heights.clear();
    this.invalidate();
  }

  // every row is drawn again at the next frame (a toggle, new highlights)
  invalidate() {
    for (const element of this.rendered.values()) element.remove();
    this.rendered.clear();
    this.schedule();
  }

  // rows drawn before their line arrived are drawn again
  refreshPending() {
    for (const [row, element] of this.rendered) {
      if (!element.dataset.pending) continue;
      const fresh = this.renderRow(row);
      if (fresh.dataset.pending) continue;
      element.replaceWith(fresh);
      this.rendered.set(row, fresh);
      this.heights.delete(row);
    }
    if (this.wrap) this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    if (!this.count) {
      this.place(0, -1);
      this.shownTop = 0;
      this.onRender(0, -1);
      return;
    }
    if (this.wrap) this.renderWrapped();
    else this.renderFixed();
  }

  renderFixed() {
    const first = Math.floor(this.top);
    const offset = (this.top - first) * this.rowH;
    const last = Math.min(this.count - 1, first + Math.ceil((this.viewH + offset) / this.rowH));
    this.place(first, last);
    this.list.style.transform = `translateY(${-offset}px)`;
    this.shownTop = this.top;
    this.onRender(first, last);
  }

  renderWrapped() {
    const rows = Math.ceil(this.viewH / this.rowH);
    if (this.atEnd()) {
      // the last row at the bottom, as many above it as fill the view
      let first = Math.max(0, this.count - rows);
      let sum = this.fill(first, this.count - 1);
      while (sum < this.viewH && first > 0) {
        first = Math.max(0, first - Math.ceil((this.viewH - sum) / this.rowH));
        sum = this.fill(first, this.count - 1);
      }
      let offset = Math.max(0, sum - this.viewH);
      this.list.style.transform = `translateY(${-offset}px)`;
      let top = first;
      while (offset >= this.heightOf(top) && top < this.count - 1) offset -= this.heightOf(top++);
      this.shownTop = top + offset / this.heightOf(top);
      this.onRender(first, this.count - 1);
      return;
    }
    const first = Math.floor(this.top);
    let last = Math.min(this.count - 1, first + rows);
    let sum = this.fill(first, last);
    const offset = (this.top - first) * this.heightOf(first);
    while (sum < this.viewH + offset && last < this.count - 1) {
      last = Math.min(this.count - 1, last + Math.ceil((this.viewH + offset - sum) / this.rowH));
      sum = this.fill(first, last);
    }
    this.list.style.transform = `translateY(${-offset}px)`;
    this.shownTop = this.top;
    this.onRender(first, last);
  }

  // draw rows first..last and measure them; their total height
  fill(first, last) {
    this.place(first, last);
    let sum = 0;
    for (let row = first; row <= last; row++) {
      const height = this.rendered.get(row).offsetHeight || this.rowH;
      this.heights.set(row, height);
      sum += height;
    }
    return sum;
  }

  // exactly rows first..last in the list, in order, reusing the ones already drawn
  place(first, last) {
    for (const [row, element] of this.rendered) {
      if (row < first || row > last) {
        element.remove();
        this.rendered.delete(row);
      }
    }
    let previous = null;
    for (let row = first; row <= last; row++) {
      let element = this.rendered.get(row);
      if (!element) {
        element = this.renderRow(row);
        this.rendered.set(row, element);
        if (previous) previous.after(element);
        else this.list.prepend(element);
      }
      previous = element;
    }
  }

  // the drawn element of `row`, if it is in view
  element(row) {
    return this.rendered.get(row);
  }
}
