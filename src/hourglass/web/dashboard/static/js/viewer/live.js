// Following a job while it runs: its event stream (SSE) from the last line the viewer has,
// lines handed on in one batch per frame, status changes, the end. A dropped connection is
// resumed by the browser with Last-Event-ID (the last line received); when the browser gives up
// (an error answer), the stream is opened again from that line, later and later. A line at or
// before the last one received is never passed on twice.
const FLUSH_MS = 100; // hand lines on at least this often when frames do not come (hidden tab)

export class Live {
  constructor(api, { onLines, onStatus, onEnd, onState }) {
    Object.assign(this, { api, onLines, onStatus, onEnd, onState });
    this.source = null;
    this.lastSeq = 0;
    this.buffer = [];
    this.scheduled = false;
    this.retries = 0;
    this.timer = 0;
    this.stopped = true;
    this.received = 0;
    this.duplicates = 0;
  }

  start(after) {
    this.lastSeq = Math.max(this.lastSeq, after);
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }

  open() {
    if (this.stopped) return;
    const source = new EventSource(this.api.eventsUrl(this.lastSeq));
    this.source = source;
    this.onState(this.retries ? "reconnecting" : "connecting");
    source.addEventListener("connected", (event) => {
      this.retries = 0;
      this.onState("live");
      this.onStatus(JSON.parse(event.data).job_status);
    });
    source.addEventListener("log", (event) => this.take(JSON.parse(event.data)));
    source.addEventListener("status", (event) => this.onStatus(JSON.parse(event.data).job_status));
    source.addEventListener("end", (event) => {
      this.flush();
      this.stop();
      this.onState("ended");
      this.onEnd(JSON.parse(event.data));
    });
    source.addEventListener("error", (event) => this.failed(source, event));
  }

  failed(source, event) {
    if (this.stopped || source !== this.source) return;
    this.flush();
    // the browser reconnects by itself (sending Last-Event-ID) unless it gave up, or the
    // server said what failed (an `error` event with data) and closes the stream
    if (source.readyState === EventSource.CONNECTING && !event.data) {
      this.onState("reconnecting");
      return;
    }
    source.close();
    this.onState("reconnecting");
    const delay = Math.min(30000, 1000 * 2 ** this.retries++);
    this.timer = setTimeout(() => this.resume(), delay);
  }

  // after the browser gave up: the job may have ended meanwhile (its stream may be gone)
  async resume() {
    try {
      const job = await this.api.job();
      if (["COMPLETED", "FAILED", "CANCELED"].includes(job.status) && job.log_state === "disabled") {
        this.stop();
        this.onState("ended");
        this.onEnd({ job_status: job.status, total_lines: job.log_lines });
        return;
      }
    } catch (error) { /* the server is still away: try the stream anyway */ }
    this.open();
  }

  take(line) {
    if (line.sequence_num <= this.lastSeq) {
      this.duplicates++;
      return;
    }
    this.lastSeq = line.sequence_num;
    this.received++;
    this.buffer.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.flush());
    setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush() {
    this.scheduled = false;
    if (!this.buffer.length) return;
    const lines = this.buffer;
    this.buffer = [];
    this.onLines(lines);
  }
}
