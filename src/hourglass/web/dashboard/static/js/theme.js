// Light and dark themes. Loaded in <head> as a classic script so the chosen theme applies
// before the first paint (no flash). "system" follows prefers-color-scheme; the toggle cycles
// system -> light -> dark and remembers the choice in this browser.
(function () {
  var KEY = "hg-theme";
  var ORDER = ["system", "light", "dark"];
  var root = document.documentElement;

  function stored() {
    try { return localStorage.getItem(KEY) || "system"; } catch (e) { return "system"; }
  }

  function apply(theme) {
    if (theme === "system") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", theme);
    var label = "Theme: " + theme + " (change)";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.title = label;
      button.setAttribute("aria-label", label);
    });
  }

  apply(stored());
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-theme-toggle]");
    if (!button) return;
    var next = ORDER[(ORDER.indexOf(stored()) + 1) % ORDER.length];
    try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: this page only */ }
    apply(next);
  });
  document.addEventListener("DOMContentLoaded", function () { apply(stored()); });
})();
