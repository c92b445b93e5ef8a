// The viewer's controls: the stream filter, the time stamp and wrap toggles (remembered in this
// browser), top and bottom, and the download: a plain link to the raw log with the chosen format
// and stream (the browser streams it to disk), disabled with its reason while the job runs.
import { prefs } from "./prefs.js";

const TIMES = ["off", "absolute", "relative"];
const TIME_LABELS = { off: "Time: off", absolute: "Time: clock", relative: "Time: since start" };

export class Toolbar {
  constructor(root, viewer) {
    this.viewer = viewer;
    this.root = root;
    this.stream = root.querySelector("#lv-stream");
    this.time = root.querySelector("#lv-time");
    this.wrap = root.querySelector("#lv-wrap");
    this.link = root.querySelector("#lv-download-link");
    this.note = root.querySelector("#lv-download-note");
    this.format = root.querySelector("#lv-format");
    this.downloadStream = root.querySelector("#lv-download-stream");
    this.stream.addEventListener("change", () => viewer.setStream(this.stream.value));
    this.time.addEventListener("click", () => {
      const next = TIMES[(TIMES.indexOf(prefs.get("timestamps")) + 1) % TIMES.length];
      prefs.set("timestamps", next);
      this.showTime();
      viewer.redraw(true);
    });
    this.wrap.addEventListener("click", () => {
      prefs.set("wrap", !prefs.get("wrap"));
      this.showWrap();
      viewer.setWrap(prefs.get("wrap"));
    });
    root.querySelector("#lv-top").addEventListener("click", () => viewer.toStart());
    root.querySelector("#lv-bottom").addEventListener("click", () => viewer.toEnd());
    for (const select of [this.format, this.downloadStream]) {
      select.addEventListener("change", () => this.syncDownload());
    }
    this.link.addEventListener("click", (event) => {
      if (this.link.getAttribute("aria-disabled") === "true") event.preventDefault();
    });
    this.showTime();
    this.showWrap();
  }

  get timestamps() {
    return TIMES.includes(prefs.get("timestamps")) ? prefs.get("timestamps") : "off";
  }

  showTime() {
    const mode = this.timestamps;
    this.time.textContent = TIME_LABELS[mode];
    this.time.setAttribute("aria-pressed", String(mode !== "off"));
  }

  showWrap() {
    this.wrap.setAttribute("aria-pressed", String(Boolean(prefs.get("wrap"))));
  }

  // the link follows the choices; usable once the job has finished and its log is kept
  syncDownload() {
    const { finished, readable } = this.viewer;
    this.link.href = this.viewer.api.rawUrl({ format: this.format.value, stream: this.downloadStream.value });
    const reason = !readable
      ? "The log is not available."
      : finished ? "" : "Available once the job has finished.";
    if (reason) this.link.setAttribute("aria-disabled", "true");
    else this.link.removeAttribute("aria-disabled");
    this.link.title = reason;
    this.note.textContent = reason;
    this.note.hidden = !reason;
  }
}
