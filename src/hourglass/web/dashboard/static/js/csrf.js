// Every htmx request carries the CSRF token: the `csrf` cookie echoed in X-CSRF-Token (the
// double-submit the API checks on every state-changing request made with the session cookie).
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

document.addEventListener("htmx:configRequest", (event) => {
  const token = csrfToken();
  if (token) event.detail.headers["X-CSRF-Token"] = token;
});
