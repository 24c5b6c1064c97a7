/* echoshare patient pages: enhancements only; every page works without this file.
   - photo page: swipe left/right (and arrow keys) go to the next/previous photo;
   - gallery: "Save to Photos" through the Web Share API with files, where the phone has it. */
(function () {
  "use strict";

  function go(selector) {
    var link = document.querySelector(selector);
    if (link) { window.location.assign(link.href); }
  }

  function enableSwipe(area) {
    var startX = null, startY = null;
    // A dragged image would cancel the pointer events: no native image dragging here.
    area.addEventListener("dragstart", function (e) { e.preventDefault(); });
    area.addEventListener("pointerdown", function (e) { startX = e.clientX; startY = e.clientY; });
    area.addEventListener("pointercancel", function () { startX = null; });
    area.addEventListener("pointerup", function (e) {
      if (startX === null) { return; }
      var dx = e.clientX - startX, dy = e.clientY - startY;
      startX = null;
      if (Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) {
        go(dx < 0 ? "[data-next]" : "[data-prev]");
      }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "ArrowRight") { go("[data-next]"); }
      if (e.key === "ArrowLeft") { go("[data-prev]"); }
    });
  }

  function canShareFiles() {
    if (!navigator.canShare || !window.File) { return false; }
    try {
      return navigator.canShare({ files: [new File([""], "echo.jpg", { type: "image/jpeg" })] });
    } catch (err) {
      return false;
    }
  }

  function enableSaveToPhotos(button) {
    var status = document.getElementById("save-status");
    var files = JSON.parse(button.getAttribute("data-files") || "[]");
    var prepared = null;  // File objects, kept once fetched
    if (!files.length || !canShareFiles()) { return; }
    button.hidden = false;

    function fetchAll() {
      return Promise.all(files.map(function (f) {
        return fetch(f.url, { credentials: "same-origin" })
          .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.blob(); })
          .then(function (blob) { return new File([blob], f.name, { type: f.type }); });
      }));
    }

    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = prepared ? "" : (button.getAttribute("data-busy") || "");
      (prepared ? Promise.resolve(prepared) : fetchAll()).then(function (list) {
        prepared = list;
        return navigator.share({ files: list });
      }).then(function () {
        status.textContent = "";
      }).catch(function (err) {
        if (err && err.name === "AbortError") {
          status.textContent = "";  // the person closed the share sheet
        } else if (err && err.name === "NotAllowedError" && prepared) {
          // Fetching large files outlasted the tap's permission: one more tap shares them.
          status.textContent = button.getAttribute("data-ready") || "";
        } else {
          status.textContent = button.getAttribute("data-failed") || "";
        }
      }).then(function () { button.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var area = document.querySelector("[data-swipe]");
    if (area) { enableSwipe(area); }
    var save = document.getElementById("save-to-photos");
    if (save) { enableSaveToPhotos(save); }
  });
})();
