// Times arrive in UTC (<time datetime>); show them in the browser's time zone, and as
// "3 min ago" / "in 5 min" inside .rel, refreshed every 30 s and after each htmx swap.
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];

function ago(date) {
  let amount = (date.getTime() - Date.now()) / 1000;
  for (const [size, unit] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return "";
}

function render(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const date = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) continue;
    element.title = element.getAttribute("datetime");
    element.textContent = element.closest(".rel") ? ago(date) : absolute.format(date);
  }
}

render(document);
document.addEventListener("htmx:afterSettle", (event) => render(event.detail.elt));
setInterval(() => render(document), 30000);
