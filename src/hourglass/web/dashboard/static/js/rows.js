// Row editors (argv, env, secrets, headers): add a row from the editor's <template>, remove one.
document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add-row]");
  if (add) {
    const key = add.dataset.addRow;
    const list = document.getElementById(`rows-${key}`);
    const template = document.getElementById(`tpl-${key}`);
    if (!list || !template) return;
    list.append(template.content.cloneNode(true));
    list.lastElementChild.querySelector("input")?.focus();
    return;
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const row = remove.closest(".row");
    const next = row.nextElementSibling || row.previousElementSibling;
    const fieldset = row.closest("fieldset");
    row.remove();
    (next?.querySelector("input") || fieldset?.querySelector("[data-add-row]"))?.focus();
  }
});
