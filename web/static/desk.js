// The desk's upload form, enhanced: files can be dropped on it (the plain file input works
// without this script), the chosen files are listed, and the titles box is filled with their
// names for the secretary to correct. No inline script: the site's CSP is default-src 'self'.
"use strict";
(function () {
  const form = document.getElementById("upload");
  const input = document.getElementById("files");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("chosen");
  const titles = document.getElementById("titles");
  if (!form || !input || !zone || !list || !titles || typeof DataTransfer === "undefined") return;
  zone.hidden = false;
  let typed = false;  // the secretary wrote titles: never overwrite them
  titles.addEventListener("input", function () { typed = true; });

  function stem(name) { return name.replace(/\.[^.]+$/, "").replace(/_/g, " ").trim(); }

  function show() {
    list.replaceChildren();
    for (const f of input.files) {
      const li = document.createElement("li");
      li.textContent = f.name + " (" + Math.ceil(f.size / 1024) + " KiB)";
      list.appendChild(li);
    }
    if (!typed) titles.value = Array.from(input.files, function (f) { return stem(f.name); }).join("\n");
  }

  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    const all = new DataTransfer();
    for (const f of input.files) all.items.add(f);  // dropped files join those chosen
    for (const f of e.dataTransfer.files) all.items.add(f);
    input.files = all.files;
    show();
  });
})();
