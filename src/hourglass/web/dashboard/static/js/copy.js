// Copy buttons: [data-copy="#selector"] copies that element's value (or text).
import { toast } from "./toasts.js";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard");
  } catch (error) {
    // no clipboard access (e.g. plain http on another host): select it for Ctrl+C instead
    source.focus();
    source.select?.();
    toast("Press Ctrl+C (⌘C) to copy the selected text", "warn");
  }
});
