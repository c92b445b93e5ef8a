// How one row looks: its line number (a #L link), its time stamp (absolute or relative to the
// job's start), its message (ANSI and highlights), and what it is: stderr, a system line, the
// line that opens an attempt or stands for a capped log's omitted middle, selected, the
// current search hit. A row whose line has not arrived yet says so and keeps its number.
import { renderMessage } from "./ansi.js";

const ATTEMPT = /^attempt \d+ started /;
const OMISSION = /^… \d+ lines? \(\d+ bytes\) omitted …$/;
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

function pad(value, width) {
  return String(value).padStart(width, "0");
}

// "+1:02:03.456" (or "-0:00.120" for a line stamped before the start)
export function relativeTime(ms) {
  const sign = ms < 0 ? "-" : "+";
  let rest = Math.abs(Math.round(ms));
  const millis = rest % 1000;
  rest = Math.floor(rest / 1000);
  const seconds = rest % 60;
  rest = Math.floor(rest / 60);
  const minutes = rest % 60;
  const hours = Math.floor(rest / 60);
  const head = hours ? `${hours}:${pad(minutes, 2)}` : `${minutes}`;
  return `${sign}${head}:${pad(seconds, 2)}.${pad(millis, 3)}`;
}

export function absoluteTime(date, withDay) {
  const time = `${clock.format(date)}.${pad(date.getMilliseconds(), 3)}`;
  return withDay ? `${day.format(date)} ${time}` : time;
}

function stamp(line, view) {
  const span = document.createElement("span");
  span.className = "lv-ts";
  const date = new Date(line.timestamp);
  span.title = line.timestamp;
  span.textContent = view.timestamps === "relative" && view.startedAt !== null
    ? relativeTime(date.getTime() - view.startedAt)
    : absoluteTime(date, view.multiDay);
  return span;
}

function number(seq) {
  const link = document.createElement("a");
  link.className = "lv-num";
  link.href = `#L${seq}`;
  link.dataset.seq = seq;
  link.tabIndex = -1; // the viewer is one tab stop; its keys move through the lines
  link.textContent = seq;
  link.setAttribute("aria-label", `line ${seq}`);
  return link;
}

// `view`: {timestamps: "off"|"absolute"|"relative", startedAt, multiDay, highlights(line),
// currentHit, target, selected(seq)}
export function renderRow(line, seq, view) {
  const row = document.createElement("div");
  row.className = "lv-row";
  if (!line) {
    row.dataset.pending = "true";
    row.classList.add("lv-pending");
    if (seq !== undefined) row.append(number(seq));
    const message = document.createElement("span");
    message.className = "lv-msg";
    message.textContent = "…";
    row.append(message);
    return row;
  }
  seq = line.sequence_num;
  row.dataset.seq = seq;
  if (line.stream !== "stdout") row.classList.add(`lv-${line.stream}`);
  if (line.stream === "system" && ATTEMPT.test(line.message)) row.classList.add("lv-attempt");
  if (line.stream === "system" && OMISSION.test(line.message)) row.classList.add("lv-omission");
  if (view.selected(seq)) row.classList.add("lv-selected");
  if (view.currentHit === seq) row.classList.add("lv-current");
  if (view.target === seq) row.classList.add("lv-target");
  row.append(number(seq));
  if (view.timestamps !== "off") row.append(stamp(line, view));
  const message = document.createElement("span");
  message.className = "lv-msg";
  message.append(renderMessage(line.message, view.highlights(line) || []));
  row.append(message);
  return row;
}
