// Native <dialog>s: opened by [data-dialog-open], closed by [data-dialog-close] or Escape.
// A dangerous action's dialog asks for the workflow's name: its button stays disabled until
// the typed text matches (the server checks it again).
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-dialog-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialogOpen);
    dialog?.showModal();
    dialog?.querySelector("input")?.focus();
    return;
  }
  const closer = event.target.closest("[data-dialog-close]");
  if (closer) closer.closest("dialog")?.close();
});

document.addEventListener("input", (event) => {
  const input = event.target.closest("[data-confirm-name]");
  if (!input) return;
  const button = input.form?.querySelector("[data-confirm-submit]");
  if (button) button.disabled = input.value.trim() !== input.dataset.confirmName;
});
