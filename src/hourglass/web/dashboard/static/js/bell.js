// The bell: the unread count, kept live by the API's notification stream, and its drawer.
//
// The count is the set of unread ids: the API's list (GET /notifications, up to 100) united with
// the ids the stream (GET /notifications/events) sent since that list was asked for, so a
// notification that arrives while the list loads is counted once. The list is read again on
// every (re)connection and after every change made in the drawer. EventSource sends the cookies
// and resumes after the last event id by itself; a hidden tab closes its stream (browsers allow
// a few connections per site) and reopens it after the last seq it saw when shown again.
import { csrfToken } from "./csrf.js";

const bell = document.getElementById("bell");
const badge = document.getElementById("bell-count");
const drawer = document.getElementById("notifications-drawer");
const LIST = "/notifications?limit=100";
const MANY = 99;

let unread = new Set();
let streamed = new Set();
let more = false;
let lastSeq = null;
let source = null;
let asked = 0;

function show() {
  const text = more || unread.size > MANY ? `${MANY}+` : String(unread.size);
  badge.hidden = unread.size === 0;
  badge.textContent = text;
  bell.setAttribute("aria-label", unread.size ? `Notifications: ${text} unread` : "Notifications: none unread");
}

async function recount() {
  const mine = ++asked;
  streamed = new Set();
  const response = await fetch(LIST, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok || mine !== asked) return;
  const page = await response.json();
  unread = new Set([...page.notifications.map((n) => n.id), ...streamed]);
  more = page.cursor !== null;
  show();
}

function arrived(notification) {
  lastSeq = Math.max(lastSeq ?? 0, notification.seq);
  if (notification.read_at) {
    unread.delete(notification.id);
    streamed.delete(notification.id);
  } else {
    unread.add(notification.id);
    streamed.add(notification.id);
    bell.classList.remove("ring");
    void bell.offsetWidth; // restart the animation
    bell.classList.add("ring");
  }
  show();
  // an open drawer shows it, unless the person is choosing (checked boxes) or paging
  const list = drawer?.open && drawer.querySelector("#notif-list");
  if (list && list.dataset.paged === "false" && !list.querySelector("input:checked")) reloadDrawer();
}

function connect() {
  const url = lastSeq === null ? "/notifications/events" : `/notifications/events?after=${lastSeq}`;
  source = new EventSource(url);
  source.addEventListener("connected", (event) => {
    const { last_event_id: last } = JSON.parse(event.data);
    if (lastSeq === null) lastSeq = last;
    recount().catch(() => {});
  });
  source.addEventListener("notification", (event) => arrived(JSON.parse(event.data)));
}

function disconnect() {
  source?.close();
  source = null;
}

function reloadDrawer(url) {
  const list = drawer.querySelector("#notif-list");
  const target = url || (list?.dataset.view === "all" ? "/ui/notifications?unread=false" : "/ui/notifications");
  window.htmx.ajax("GET", target, { target: "#drawer-body", swap: "innerHTML" });
}

if (bell && badge) {
  connect();
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) disconnect();
    else if (!source) connect();
  });
  // the drawer's requests change what is read, the account's preference what is shown:
  // count again once they are done
  document.addEventListener("htmx:afterRequest", (event) => {
    const path = event.detail.pathInfo?.requestPath || "";
    const changes = path.startsWith("/ui/notifications") || path.startsWith("/ui/users");
    if (event.detail.successful && changes) recount().catch(() => {});
  });
}

if (bell && drawer) {
  bell.addEventListener("click", (event) => {
    event.preventDefault();
    drawer.showModal();
    reloadDrawer("/ui/notifications");
  });
  // a click on the backdrop (the dialog itself, outside its inner box) closes it
  drawer.addEventListener("click", (event) => {
    if (event.target === drawer) drawer.close();
  });
}

// opening a notification's page reads it: mark it on the way (a plain click waits for that, up
// to a moment, so the next page counts it read; a new tab or window just sends it)
function markRead(id) {
  return fetch("/notifications", {
    method: "PUT",
    keepalive: true,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify({ ids: [id] }),
  }).catch(() => { /* it stays unread: the drawer still offers "Mark read" */ });
}

document.addEventListener("click", async (event) => {
  const link = event.target.closest("a[data-notification]");
  if (!link || event.defaultPrevented) return;
  const marking = markRead(link.dataset.notification);
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  await Promise.race([marking, new Promise((resolve) => { setTimeout(resolve, 1500); })]);
  window.location.assign(link.href);
});
