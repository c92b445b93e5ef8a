// A workflow's analytics charts (uPlot): runs per day stacked by status, the success rate per
// day, p50/p95 duration per day. The server renders the figures and a table of the same numbers;
// this draws the [data-chart] boxes of an .analytics[data-series] element. uPlot (vendored) is
// loaded the first time a chart is shown. Colours are the theme's: redrawn when it changes.
const HEIGHT = 180;
const DAY = 86400;
const charts = []; // { box, plot, observer }
let loading = null;

function loadUPlot(root) {
  if (window.uPlot) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = root.dataset.uplotCss;
      const script = document.createElement("script");
      script.src = root.dataset.uplot;
      script.onload = resolve;
      script.onerror = () => { loading = null; reject(new Error("uPlot did not load")); };
      document.head.append(css, script);
    });
  }
  return loading;
}

// CSS colours as the canvas needs them: the theme's variables resolved by the browser
function palette(box) {
  const probe = document.createElement("span");
  probe.hidden = true;
  box.append(probe);
  const read = (name) => { probe.className = name; return getComputedStyle(probe).color; };
  const colours = {
    ok: read("tone-text-ok"), bad: read("tone-text-bad"), warn: read("tone-text-warn"),
    info: read("tone-text-info"), text: read("muted"), grid: read("chart-grid"),
  };
  probe.remove();
  return colours;
}

function ms(value) {
  if (value == null) return "—";
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(1)} s`;
  if (value < 3600000) return `${Math.floor(value / 60000)} min ${Math.round((value % 60000) / 1000)} s`;
  return `${Math.floor(value / 3600000)} h ${Math.round((value % 3600000) / 60000)} min`;
}

// days without jobs have no value: a lone day between them is a dot, not a line
const dots = (colour) => ({ show: true, size: 5, fill: colour, stroke: colour });
const pct = (value) => (value == null ? "—" : `${Math.round(value * 1000) / 10} %`);
const count = (value) => (value == null ? "—" : String(value));

function axes(colours, yValues) {
  const base = { stroke: colours.text, grid: { stroke: colours.grid, width: 1 }, ticks: { stroke: colours.grid, width: 1 } };
  return [{ ...base, grid: { show: false } }, { ...base, values: (u, splits) => splits.map(yValues), size: 64 }];
}

// one option set per chart kind: its series (as drawn) and its data
function runs(data, colours) {
  // stacked bars: the tallest (all) drawn first, then the lower sums on top of it
  const okFailed = data.completed.map((c, i) => c + data.failed[i]);
  const all = okFailed.map((v, i) => v + data.canceled[i]);
  const bars = window.uPlot.paths.bars({ size: [0.7, 48] });
  const raw = (values) => (u, v, si, i) => (i == null ? "—" : String(values[i]));
  return {
    opts: {
      series: [
        {},
        { label: "canceled", fill: colours.warn, stroke: colours.warn, paths: bars, width: 0, points: { show: false }, value: raw(data.canceled) },
        { label: "failed", fill: colours.bad, stroke: colours.bad, paths: bars, width: 0, points: { show: false }, value: raw(data.failed) },
        { label: "completed", fill: colours.ok, stroke: colours.ok, paths: bars, width: 0, points: { show: false }, value: raw(data.completed) },
      ],
      scales: { y: { range: (u, min, max) => [0, Math.max(4, max)] } },
      axes: axes(colours, count).map((axis, i) => (i === 1 ? { ...axis, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] } : axis)),
    },
    values: [all, okFailed, data.completed],
  };
}

function rate(data, colours) {
  return {
    opts: {
      series: [{}, { label: "success rate", stroke: colours.ok, width: 2, value: (u, v) => pct(v), points: dots(colours.ok) }],
      scales: { y: { range: [0, 1] } },
      axes: axes(colours, pct),
    },
    values: [data.rate],
  };
}

function duration(data, colours) {
  return {
    opts: {
      series: [
        {},
        { label: "p50", stroke: colours.info, width: 2, value: (u, v) => ms(v), points: dots(colours.info) },
        { label: "p95", stroke: colours.warn, width: 2, value: (u, v) => ms(v), points: dots(colours.warn) },
      ],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: axes(colours, ms),
    },
    values: [data.p50, data.p95],
  };
}

const KINDS = { runs, rate, duration };

function draw(box, data) {
  const made = KINDS[box.dataset.chart]?.(data, palette(box));
  if (!made) return;
  const uPlot = window.uPlot;
  const opts = {
    width: Math.max(200, box.clientWidth),
    height: HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"), // days are UTC days
    scales: { x: { time: true, range: (u, min, max) => [min - DAY / 2, max + DAY / 2] }, ...made.opts.scales },
    series: made.opts.series,
    axes: made.opts.axes,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  box.replaceChildren();
  const plot = new uPlot(opts, [data.x, ...made.values], box);
  const observer = new ResizeObserver(() => {
    const width = Math.max(200, box.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: HEIGHT });
  });
  observer.observe(box);
  charts.push({ box, plot, observer });
}

function forget(keep) {
  for (let i = charts.length - 1; i >= 0; i--) {
    if (keep(charts[i])) continue;
    charts[i].observer.disconnect();
    charts[i].plot.destroy();
    charts.splice(i, 1);
  }
}

async function drawIn(root) {
  const holders = root.matches?.(".analytics[data-series]") ? [root] : [...root.querySelectorAll(".analytics[data-series]")];
  for (const holder of holders) {
    await loadUPlot(holder);
    const data = JSON.parse(holder.dataset.series);
    forget((chart) => chart.box.isConnected && !holder.contains(chart.box));
    for (const box of holder.querySelectorAll("[data-chart]")) draw(box, data);
  }
}

function redrawAll() {
  forget(() => false);
  drawIn(document).catch(() => {});
}

drawIn(document).catch(() => { /* the table below the charts holds the same numbers */ });
document.addEventListener("htmx:afterSettle", (event) => {
  forget((chart) => chart.box.isConnected);
  drawIn(event.detail.elt).catch(() => {});
});
new MutationObserver(redrawAll).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll);
