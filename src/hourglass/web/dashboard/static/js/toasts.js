// Every action confirms or fails visibly. The server sends `hg:toast` events (HX-Trigger) for
// what it did or refused; failures htmx sees itself (no answer, a server error) are said here.
// A toast sent with a redirect is kept in sessionStorage and shown on the next page.
const KEY = "hg-toasts";
const region = document.getElementById("toasts");

export function toast(message, level = "ok") {
  if (!region) return;
  const item = document.createElement("div");
  item.className = `toast toast-${level}`;
  item.setAttribute("role", level === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "icon-button";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  region.append(item);
  setTimeout(() => item.remove(), level === "error" ? 12000 : 5000);
}

function keep({ message, level }) {
  const kept = JSON.parse(sessionStorage.getItem(KEY) || "[]");
  kept.push({ message, level });
  sessionStorage.setItem(KEY, JSON.stringify(kept));
}

document.addEventListener("hg:toast", (event) => {
  const detail = event.detail || {};
  if (detail.persist) keep(detail);
  else toast(detail.message, detail.level);
});

document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let message = `The server answered ${xhr.status}.`;
  try {
    const problem = JSON.parse(xhr.responseText);
    if (problem.detail) message = `${problem.detail} (${xhr.status})`;
    if (problem.request_id) message += ` — request id ${problem.request_id}`;
  } catch (e) { /* not problem+json */ }
  toast(message, "error");
});

document.addEventListener("htmx:sendError", () => {
  toast("The server did not answer: check your connection, then try again.", "error");
});

for (const detail of JSON.parse(sessionStorage.getItem(KEY) || "[]")) {
  toast(detail.message, detail.level);
}
sessionStorage.removeItem(KEY);

// a form that comes back with errors: bring its summary into view and focus for screen readers
document.addEventListener("htmx:afterSettle", (event) => {
  const summary = event.detail.elt.querySelector && event.detail.elt.querySelector(".form-summary");
  if (summary) summary.focus();
});
