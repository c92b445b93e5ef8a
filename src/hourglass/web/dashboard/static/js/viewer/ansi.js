// One log message as DOM: ANSI colours and styles (ansi_up's parser, its state reset for every
// row so one red line never colours the next), search highlights from the server's offsets, and
// nothing that could run: text goes into text nodes, colours into classes (or CSSOM for 24-bit
// colours: the CSP forbids style attributes, so ansi_up's HTML output is never used).
import { AnsiUp } from "../../vendor/ansi_up.js";

// Longest message drawn in a row; the rest is said, and copy/download still give all of it.
export const DRAWN_CHARS = 20000;
const ESCAPES = /[\x1b\x9b\x9d]/;
// CSI, OSC, string and other escapes, as the server's `ansi=strip` (domain/logs/render.py)
const ANSI_SEQUENCE = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?|\x1b[PX^_][^\x1b\x9c\n]*(?:\x1b\\|\x9c)?|\x1b[ -/]*[0-~]/g;
const SURROGATES = /[\ud800-\udfff]/;

export function stripAnsi(message) {
  return ESCAPES.test(message) ? message.replace(ANSI_SEQUENCE, "") : message;
}

// ansi_up as a tokenizer: each styled text run is collected with its offset in the raw message
class Tokenizer extends AnsiUp {
  constructor() {
    super();
    this.use_classes = true;
    this.escape_html = false;
  }

  runs(message) {
    this.fg = this.bg = null;
    this.bold = this.faint = this.italic = this.underline = false;
    this._buffer = "";
    this.out = [];
    this.rawLength = message.length;
    this.ansi_to_html(message);
    return this.out;
  }

  with_state(packet) {
    const state = super.with_state(packet);
    state.start = this.rawLength - this._buffer.length - packet.text.length;
    return state;
  }

  transform_to_html(fragment) {
    if (fragment.text.length) this.out.push(fragment);
    return "";
  }

  process_hyperlink(packet) {
    const scheme = packet.url.split(":")[0];
    this.out.push({ text: packet.text, start: -1, url: this._url_allowlist[scheme] ? packet.url : null });
    return "";
  }
}

const tokenizer = new Tokenizer();

// Code-point spans (the API's) as UTF-16 spans (a JS string's)
function utf16Spans(message, spans) {
  if (!spans.length || !SURROGATES.test(message)) return spans;
  const at = [0];
  let unit = 0;
  for (const char of message) {
    unit += char.length;
    at.push(unit);
  }
  const last = at.length - 1;
  return spans.map(([a, b]) => [at[Math.min(a, last)], at[Math.min(b, last)]]);
}

// `text` (starting at raw offset `start`) into `parent`, the parts inside `spans` as <mark>
function appendMarked(parent, text, start, spans) {
  let pos = 0;
  for (const [a, b] of spans) {
    const from = Math.max(a - start, pos);
    const to = Math.min(b - start, text.length);
    if (to <= from) continue;
    if (from > pos) parent.append(text.slice(pos, from));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(from, to);
    parent.append(mark);
    pos = to;
  }
  if (pos < text.length) parent.append(pos ? text.slice(pos) : text);
}

function styled(run) {
  const span = document.createElement("span");
  const classes = [];
  if (run.bold) classes.push("ansi-bold");
  if (run.faint) classes.push("ansi-faint");
  if (run.italic) classes.push("ansi-italic");
  if (run.underline) classes.push("ansi-underline");
  for (const [color, side] of [[run.fg, "fg"], [run.bg, "bg"]]) {
    if (!color) continue;
    if (color.class_name === "truecolor") {
      const rgb = `rgb(${color.rgb.join(",")})`;
      if (side === "fg") span.style.color = rgb;
      else span.style.backgroundColor = rgb;
    } else {
      classes.push(`${color.class_name}-${side}`);
    }
  }
  span.className = classes.join(" ");
  return span;
}

// The message as a fragment; `spans` are the server's highlight offsets (code points)
export function renderMessage(message, spans = []) {
  const fragment = document.createDocumentFragment();
  let rest = 0;
  if (message.length > DRAWN_CHARS) {
    rest = message.length - DRAWN_CHARS;
    message = message.slice(0, DRAWN_CHARS);
  }
  const marks = utf16Spans(message, spans);
  if (!ESCAPES.test(message)) {
    appendMarked(fragment, message, 0, marks);
  } else {
    for (const run of tokenizer.runs(message)) {
      if (run.start === -1) {
        const link = document.createElement(run.url ? "a" : "span");
        if (run.url) {
          link.href = run.url;
          link.rel = "noopener noreferrer nofollow";
          link.target = "_blank";
        }
        link.textContent = run.text;
        fragment.append(link);
        continue;
      }
      const plain = !run.bold && !run.faint && !run.italic && !run.underline && !run.fg && !run.bg;
      const target = plain ? fragment : styled(run);
      appendMarked(target, run.text, run.start, marks);
      if (!plain) fragment.append(target);
    }
  }
  if (rest) {
    const more = document.createElement("span");
    more.className = "lv-more";
    more.textContent = ` … ${rest.toLocaleString()} more characters (copy or download the line for all of it)`;
    fragment.append(more);
  }
  return fragment;
}
