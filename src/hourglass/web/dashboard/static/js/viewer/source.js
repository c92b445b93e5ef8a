// Where the viewer's rows come from. Two sources answer the same questions (how many rows, the
// line of row r if it is here, load rows a..b, which row holds sequence number s):
//
// - SeqSource: the whole log. Row r is line r + 1 (past a capped log's gap, shifted by the
//   numbers that do not exist), so any row is one page request away: blocks of BLOCK lines
//   fetched by sequence number (`after=`), kept in an LRU cache, a few requests at a time, the
//   newest first.
// - KeysetSource: a filtered view (one stream, or the lines matching a search), read through
//   the search route, whose first page gives the exact count. Its rows are walked with the
//   API's cursors from both ends (a page of 1000 at a time); each page is a segment that
//   remembers how to fetch itself again once the cache has dropped it.
import { PAGE_LIMIT } from "./api.js";
import { Lru } from "./lru.js";

export const BLOCK = 500;
const IN_FLIGHT = 3;
const CACHE_BLOCKS = 64; // 32,000 lines at most
const CACHE_SEGMENTS = 32; // 32,000 lines at most

export class SeqSource {
  constructor(api, { count, gap = null }) {
    this.api = api;
    this.count = count;
    this.setGap(gap);
    this.blocks = new Lru(CACHE_BLOCKS);
    this.pending = new Map();
    this.queue = [];
    this.wanted = new Set();
    this.error = null;
    this.fetchable = true; // false: the lines came live and the server keeps none
    this.onload = () => {};
  }

  // gap: {sequence_num: the omission line, next_seq: the first line kept after it}
  setGap(gap) {
    this.gap = gap;
    this.skip = gap ? gap.next_seq - gap.sequence_num - 1 : 0;
  }

  seqOf(row) {
    const seq = row + 1;
    return this.gap && seq > this.gap.sequence_num ? seq + this.skip : seq;
  }

  rowOf(seq) {
    if (!this.gap || seq <= this.gap.sequence_num) return seq - 1;
    if (seq < this.gap.next_seq) return undefined; // omitted
    return seq - 1 - this.skip;
  }

  // the nearest row at or after `seq` (an omitted line's: the omission line's)
  nearestRow(seq) {
    const row = this.rowOf(seq);
    return row === undefined ? this.gap.sequence_num - 1 : row;
  }

  async locate(seq) {
    return this.nearestRow(seq);
  }

  line(row) {
    return this.blocks.get(Math.floor(row / BLOCK))?.lines[row % BLOCK];
  }

  // load the blocks of rows first..last, then those around them (to scroll on without a wait);
  // the rows in view are asked for last, so they are fetched first
  ensure(first, last) {
    if (this.count === 0 || !this.fetchable) return;
    const block = (row) => Math.floor(Math.min(Math.max(row, 0), this.count - 1) / BLOCK);
    const [a, b] = [block(first), block(last)];
    const [before, after] = [block(first - BLOCK / 4), block(last + BLOCK / 2)];
    this.wanted = new Set();
    this.queue = [];
    for (const index of [...new Set([before, after]), ...Array.from({ length: b - a + 1 }, (_, i) => a + i)]) {
      this.wanted.add(index);
      if (this.pending.has(index) || this.complete(index)) continue;
      this.queue.push(index);
    }
    this.pump();
  }

  complete(b) {
    const block = this.blocks.peek(b);
    if (!block) return false;
    if (block.fetched) return true;
    const end = Math.min(this.count, (b + 1) * BLOCK);
    for (let row = b * BLOCK; row < end; row++) if (!block.lines[row % BLOCK]) return false;
    return true;
  }

  pump() {
    while (this.pending.size < IN_FLIGHT && this.queue.length) {
      const b = this.queue.pop(); // the newest wish first: the viewport moved there last
      if (!this.wanted.has(b) || this.pending.has(b) || this.complete(b)) continue;
      const done = this.fetch(b)
        .then(() => { this.error = null; })
        .catch((error) => { this.error = error; })
        .finally(() => {
          this.pending.delete(b);
          this.onload();
          this.pump();
        });
      this.pending.set(b, done);
    }
  }

  async fetch(b) {
    const first = b * BLOCK;
    const page = await this.api.page({ after: this.seqOf(first) - 1, limit: BLOCK, order: "asc" });
    const block = this.blocks.peek(b) || { lines: [], fetched: false };
    for (const line of page.logs) {
      const row = this.rowOf(line.sequence_num);
      if (row !== undefined && row >= first && row < first + BLOCK) block.lines[row - first] ??= line;
    }
    block.fetched = true;
    this.blocks.set(b, block);
    return block;
  }

  // every line of rows first..last, fetched as needed (for copying a selection)
  async lines(first, last) {
    const out = [];
    for (let b = Math.floor(first / BLOCK); b <= Math.floor(last / BLOCK); b++) {
      let block = this.complete(b) ? this.blocks.get(b) : null;
      if (!block) block = await (this.pending.get(b) || Promise.resolve()).then(() => this.fetch(b));
      for (let row = Math.max(first, b * BLOCK); row <= Math.min(last, b * BLOCK + BLOCK - 1); row++) {
        const line = block.lines[row % BLOCK];
        if (line) out.push(line);
      }
    }
    return out;
  }

  // live lines (ascending, each new): stored where pages would put them
  append(lines) {
    for (const line of lines) {
      const row = this.rowOf(line.sequence_num);
      if (row === undefined) continue;
      const b = Math.floor(row / BLOCK);
      let block = this.blocks.peek(b);
      if (!block) {
        block = { lines: [], fetched: false };
        this.blocks.set(b, block);
      }
      block.lines[row % BLOCK] = line;
      if (row >= this.count) this.count = row + 1;
    }
  }
}

// A contiguous run of rows read with one request, and how to read it again
class Segment {
  constructor(id, row0, lines, refetch) {
    this.id = id;
    this.row0 = row0;
    this.n = lines.length;
    this.firstSeq = lines[0].sequence_num;
    this.lastSeq = lines[lines.length - 1].sequence_num;
    this.refetch = refetch;
  }

  get end() {
    return this.row0 + this.n;
  }
}

export class KeysetSource {
  // query: {q, regex, caseSensitive, stream}; without q, the lines of `stream`. `lastSeq`: the
  // log's last sequence number, to walk from the nearer end before the end has been read
  constructor(api, query, { lastSeq = Infinity } = {}) {
    this.api = api;
    this.query = query;
    this.lastSeq = lastSeq;
    this.exhausted = false; // the last locate() gave up after its pages
    this.count = 0;
    this.segments = [];
    this.cache = new Lru(CACHE_SEGMENTS);
    this.ids = 0;
    this.head = null; // {row0, cursor}: the next page from the start
    this.tail = null; // {end, cursor}: the next page towards the start, from the end
    this.target = null;
    this.walking = null;
    this.refetching = new Map();
    this.error = null;
    this.onload = () => {};
  }

  // the first page from the start (it counts the rows); `withEnd` also reads the last page
  // now, in the same answer as a count, so live lines can be told from counted ones
  async open({ withEnd = false, signal } = {}) {
    const ask = (order) => this.api.search({ ...this.query, order, limit: PAGE_LIMIT }, signal);
    const [first, last] = await Promise.all([ask("asc"), withEnd ? ask("desc") : null]);
    this.count = Math.max(last ? last.total_matches : first.total_matches, first.logs.length);
    if (first.logs.length) this.add(0, first.logs, this.bySearch("asc", null));
    if (first.cursor) this.head = { row0: first.logs.length, cursor: first.cursor };
    if (this.head) this.tail = { end: this.count, cursor: null };
    if (last && this.head) this.takeEnd(last);
    return this;
  }

  // the last page (descending, cursor-less): rows count - n .. count - 1
  takeEnd(page) {
    const lines = page.logs.slice().reverse();
    const { end, cursor } = this.tail;
    if (lines.length) this.add(end - lines.length, lines, this.bySearch("desc", cursor));
    this.tail = page.cursor && lines.length ? { end: end - lines.length, cursor: page.cursor } : null;
    if (!this.tail) this.head = null;
    this.meet();
  }

  bySearch(order, cursor) {
    return async () => {
      const page = await this.api.search({ ...this.query, order, cursor, limit: PAGE_LIMIT });
      return order === "desc" ? page.logs.slice().reverse() : page.logs;
    };
  }

  add(row0, lines, refetch) {
    const segment = new Segment(++this.ids, row0, lines, refetch);
    this.cache.set(segment.id, lines);
    const at = this.segments.findIndex((s) => s.row0 > row0);
    this.segments.splice(at === -1 ? this.segments.length : at, 0, segment);
    return segment;
  }

  meet() {
    if (this.head && (!this.tail || this.head.row0 >= this.tail.end)) {
      this.head = null;
      this.tail = null;
    }
  }

  segmentAt(row) {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid];
      if (row < s.row0) hi = mid - 1;
      else if (row >= s.end) lo = mid + 1;
      else return s;
    }
    // segments may overlap where the two walks met: look around the insertion point
    return this.segments.find((s) => row >= s.row0 && row < s.end);
  }

  line(row) {
    const segment = this.segmentAt(row);
    return segment && this.cache.get(segment.id)?.[row - segment.row0];
  }

  seqOf(row) {
    return this.line(row)?.sequence_num;
  }

  rowOf(seq) {
    for (const s of this.segments) {
      if (seq < s.firstSeq || seq > s.lastSeq) continue;
      const lines = this.cache.get(s.id);
      if (!lines) return undefined;
      let lo = 0;
      let hi = lines.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (lines[mid].sequence_num < seq) lo = mid + 1;
        else hi = mid;
      }
      return s.row0 + lo;
    }
    return undefined;
  }

  // the loaded line with sequence number `seq` (search hits: their highlights)
  lineBySeq(seq) {
    const row = this.rowOf(seq);
    const line = row === undefined ? undefined : this.line(row);
    return line && line.sequence_num === seq ? line : undefined;
  }

  ensure(first, last) {
    if (this.count === 0) return;
    first = Math.max(0, first);
    last = Math.min(this.count - 1, last);
    for (let row = first; row <= last; row++) {
      const segment = this.segmentAt(row);
      if (!segment) {
        this.walkTo(row);
        row = this.head ? Math.max(row, this.head.row0) : row;
        continue;
      }
      if (!this.cache.peek(segment.id)) this.reload(segment);
      row = segment.end - 1;
    }
  }

  reload(segment) {
    if (this.refetching.has(segment.id)) return this.refetching.get(segment.id);
    const done = segment.refetch()
      .then((lines) => { this.cache.set(segment.id, lines); this.error = null; })
      .catch((error) => { this.error = error; })
      .finally(() => { this.refetching.delete(segment.id); this.onload(); });
    this.refetching.set(segment.id, done);
    return done;
  }

  // walk the cursors towards `row` (the latest wish wins), one page at a time
  walkTo(row) {
    this.target = row;
    if (!this.walking) {
      this.walking = this.walk().catch((error) => { this.error = error; }).finally(() => {
        this.walking = null;
        this.onload();
      });
    }
    return this.walking;
  }

  async walk() {
    while (this.head && this.target !== null && !this.segmentAt(this.target)) {
      await this.step(this.target - this.head.row0 <= this.tail.end - this.target);
      this.onload();
    }
  }

  async step(forward) {
    if (forward) {
      const { row0, cursor } = this.head;
      const page = await this.api.search({ ...this.query, order: "asc", cursor, limit: PAGE_LIMIT });
      if (page.logs.length) this.add(row0, page.logs, this.bySearch("asc", cursor));
      this.head = page.cursor && page.logs.length ? { row0: row0 + page.logs.length, cursor: page.cursor } : null;
      if (!this.head) this.tail = null;
      this.meet();
    } else {
      const { cursor } = this.tail;
      this.takeEnd(await this.api.search({ ...this.query, order: "desc", cursor, limit: PAGE_LIMIT }));
    }
  }

  // the row of `seq`, or of the first line after it in this view (null past the end, or
  // when finding it would take more than `steps` pages: then `exhausted` is set)
  async locate(seq, steps = Infinity) {
    this.exhausted = false;
    for (;;) {
      const inside = this.segments.find((s) => s.firstSeq <= seq && seq <= s.lastSeq);
      if (inside) {
        if (!this.cache.peek(inside.id)) await this.reload(inside);
        return this.rowOf(seq) ?? null;
      }
      if (this.head) {
        const before = this.segments.find((s) => s.end === this.head.row0);
        const after = this.segments.find((s) => s.row0 === this.tail.end);
        const low = before ? before.lastSeq : 0;
        const high = after ? after.firstSeq : Infinity;
        if (low < seq && seq < high) {
          if (steps-- <= 0) {
            this.exhausted = true;
            return null;
          }
          await this.step(seq - low <= Math.min(high, this.lastSeq + 1) - seq);
          this.onload();
          continue;
        }
      }
      const next = this.segments.filter((s) => s.firstSeq > seq).sort((a, b) => a.row0 - b.row0)[0];
      return next ? next.row0 : null;
    }
  }

  async lines(first, last) {
    const out = [];
    for (let row = first; row <= last; ) {
      let segment = this.segmentAt(row);
      if (!segment) {
        await this.walkTo(row);
        segment = this.segmentAt(row);
        if (!segment) break;
      }
      if (!this.cache.peek(segment.id)) await this.reload(segment);
      const lines = this.cache.get(segment.id) || [];
      for (; row <= Math.min(last, segment.end - 1); row++) {
        const line = lines[row - segment.row0];
        if (line) out.push(line);
      }
    }
    return out;
  }

  // live lines of a stream view (a search view is a snapshot and takes none)
  append(lines) {
    if (this.query.q) return;
    const stream = this.query.stream;
    const streams = stream ? stream.split(",") : null; // the API takes a set, e.g. stdout,stderr
    let last = this.segments.at(-1);
    const fresh = lines.filter((l) => (!streams || streams.includes(l.stream)) && (!last || l.sequence_num > last.lastSeq));
    if (!fresh.length) return;
    const kept = last?.live && last.n < PAGE_LIMIT && last.end === this.count && this.cache.peek(last.id);
    if (kept) {
      kept.push(...fresh);
      last.n += fresh.length;
      last.lastSeq = fresh.at(-1).sequence_num;
    } else {
      last = this.add(this.count, fresh, null);
      last.live = true;
      const segment = last;
      segment.refetch = async () => {
        const page = await this.api.page({ after: segment.firstSeq - 1, limit: segment.n, order: "asc", stream });
        return page.logs;
      };
    }
    this.count += fresh.length;
  }
}
