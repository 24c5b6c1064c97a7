// Staff pages: a little progressive behaviour. Every page works without it.
(function () {
  "use strict";

  // Today: refresh the table body every 10 seconds (states change without a reload).
  function refreshRows() {
    var body = document.getElementById("today-rows");
    if (!body) return;
    var url = body.getAttribute("data-refresh-url") + window.location.search;
    setInterval(function () {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) body.innerHTML = html; })
        .catch(function () {});
    }, 10000);
  }

  // Exam: keep the state badge current (sent, opened ... arrive from the portal).
  function refreshExamState() {
    var badge = document.getElementById("exam-state");
    if (!badge) return;
    var url = badge.getAttribute("data-refresh-url");
    setInterval(function () {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || badge.textContent === data.label) return;
          badge.textContent = data.label;
          badge.className = "state state-" + data.code;
        })
        .catch(function () {});
    }, 10000);
  }

  // Exam: swap thumbnail placeholders for the images once the job has made them.
  function pollThumbnails() {
    var form = document.getElementById("selection-form");
    if (!form || !form.querySelector("[data-thumbnail-url]")) return;
    var url = form.getAttribute("data-thumbnails-url");
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          data.ready.forEach(function (key) {
            var tile = form.querySelector('.tile[data-key="' + key + '"] [data-thumbnail-url]');
            if (!tile) return;
            var img = document.createElement("img");
            img.src = tile.getAttribute("data-thumbnail-url");
            img.alt = tile.textContent;
            img.width = 160;
            tile.replaceWith(img);
          });
          if (!form.querySelector("[data-thumbnail-url]")) clearInterval(timer);
        })
        .catch(function () {});
    }, 3000);
  }

  // Exam: a preview or patient view still being made shows a placeholder image; once the
  // job made it (views.json lists "<key>/<view>"), load it again. Only views in sight are
  // asked for: a closed "what the patient gets" has not even queued its job yet.
  function pollViews() {
    var list = document.getElementById("items");
    if (!list || !list.querySelector("[data-pending-view]")) return;
    var url = list.getAttribute("data-views-url");
    var timer = setInterval(function () {
      if (document.hidden) return;
      var waiting = Array.prototype.filter.call(
        list.querySelectorAll("img[data-pending-view]"),
        function (img) { var box = img.closest("details"); return !box || box.open; }
      );
      if (!waiting.length) {
        if (!list.querySelector("[data-pending-view]")) clearInterval(timer);
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          waiting.forEach(function (img) {
            var view = img.getAttribute("data-pending-view");
            if (data.ready.indexOf(view) < 0 && data.refused.indexOf(view) < 0) return;
            img.removeAttribute("data-pending-view");
            img.src = img.src.split("?")[0] + "?made=" + Date.now();
          });
        })
        .catch(function () {});
    }, 3000);
  }

  // Exam: move a picked item up or down; the order numbers of the selection form follow,
  // and the selection form is submitted so the new order is saved.
  function reorder() {
    var list = document.getElementById("items");
    var form = document.getElementById("selection-form");
    if (!list || !form) return;
    list.addEventListener("click", function (event) {
      var button = event.target.closest(".js-up, .js-down");
      if (!button) return;
      var item = button.closest(".item");
      if (button.classList.contains("js-up") && item.previousElementSibling) {
        list.insertBefore(item, item.previousElementSibling);
      } else if (button.classList.contains("js-down") && item.nextElementSibling) {
        list.insertBefore(item.nextElementSibling, item);
      } else {
        return;
      }
      Array.prototype.forEach.call(list.querySelectorAll(".item"), function (el, index) {
        var input = form.querySelector('input[name="order-' + el.getAttribute("data-key") + '"]');
        if (input) input.value = String(index + 1);
      });
      form.submit();
    });
  }

  // Exam: two clicks on a preview set the crop box's corners (in image pixels).
  function cropByClicks() {
    Array.prototype.forEach.call(document.querySelectorAll(".item"), function (item) {
      var img = item.querySelector("img.preview");
      var form = item.querySelector(".crop-form");
      if (!img || !form) return;
      var first = true;
      img.addEventListener("click", function (event) {
        var columns = Number(img.getAttribute("data-columns")) || img.naturalWidth;
        var rows = Number(img.getAttribute("data-rows")) || img.naturalHeight;
        var box = img.getBoundingClientRect();
        var x = Math.max(0, Math.min(columns - 1, Math.round((event.clientX - box.left) * columns / box.width)));
        var y = Math.max(0, Math.min(rows - 1, Math.round((event.clientY - box.top) * rows / box.height)));
        form.querySelector(first ? '[name="x0"]' : '[name="x1"]').value = String(x);
        form.querySelector(first ? '[name="y0"]' : '[name="y1"]').value = String(y);
        first = !first;
      });
    });
  }

  // Upload: drop files onto the form to upload them at once.
  function dropUpload() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var input = form.querySelector('input[type="file"]');
    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (event) { event.preventDefault(); form.classList.add("over"); });
    });
    form.addEventListener("dragleave", function () { form.classList.remove("over"); });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("over");
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      form.submit();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    refreshRows();
    refreshExamState();
    pollThumbnails();
    pollViews();
    reorder();
    cropByClicks();
    dropUpload();
  });
})();
