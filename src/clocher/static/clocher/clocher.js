// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button && navigator.clipboard) {
    navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copié";
  }
});
// Vault uploads: drag and drop onto the form, and a progress bar while the files go up.
document.querySelectorAll("form[data-upload]").forEach((form) => {
  const input = form.querySelector('input[type="file"]');
  const line = form.querySelector(".upload-progress");
  const bar = line.querySelector("progress");
  const text = line.querySelector("span");
  const send = (files) => {
    const data = new FormData();
    data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    for (const file of files) data.append(input.name, file);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    line.hidden = false;
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        bar.value = Math.round((100 * event.loaded) / event.total);
        text.textContent = `Envoi : ${bar.value} %`;
      }
    });
    request.addEventListener("load", () => {
      let answer = { message: "Réponse inattendue du serveur." };
      try { answer = JSON.parse(request.responseText); } catch (e) { /* keep the default */ }
      text.textContent = answer.message;
      if (answer.ok && answer.redirect) window.location.assign(answer.redirect);
      else if (answer.ok) window.setTimeout(() => window.location.reload(), 800);
    });
    request.addEventListener("error", () => { text.textContent = "Envoi interrompu : réessayez."; });
    request.send(data);
  };
  form.addEventListener("submit", (event) => {
    if (!input.files.length) return;
    event.preventDefault();
    send(input.files);
  });
  form.addEventListener("dragover", (event) => { event.preventDefault(); form.classList.add("dragging"); });
  form.addEventListener("dragleave", () => form.classList.remove("dragging"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("dragging");
    if (event.dataTransfer.files.length) send(event.dataTransfer.files);
  });
});
