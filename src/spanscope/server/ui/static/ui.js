// Spanscope UI: keyboard navigation of the list and the span tree, folding, copy buttons.
// Small and dependency-free; htmx does the fragment loading.
(function () {
  "use strict";
  function rows(list) { return Array.from(list.querySelectorAll("[data-href]")); }

  // Trace list: j/k move, Enter opens, the row is the link.
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea")) return;
    var table = document.querySelector("table.list[aria-label='Traces']");
    if (!table) return;
    var all = rows(table), index = all.indexOf(document.activeElement);
    if (event.key === "j" || event.key === "k") {
      var next = all[Math.max(0, Math.min(all.length - 1, index + (event.key === "j" ? 1 : -1)))];
      if (next) { next.focus(); event.preventDefault(); }
    } else if (event.key === "Enter" && index >= 0) {
      window.location = all[index].dataset.href;
    }
  });
  document.addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, label")) window.location = row.dataset.href;
  });

  // Span tree: fold a subtree (rows whose path starts with this row's path).
  function setFolded(row, folded) {
    row.setAttribute("aria-expanded", folded ? "false" : "true");
    var prefix = row.dataset.path + "/", item = row.nextElementSibling;
    while (item && item.dataset.path && item.dataset.path.indexOf(prefix) === 0) {
      if (folded) item.classList.add("hidden");
      else {
        item.classList.remove("hidden");
        if (item.getAttribute("aria-expanded") === "false") {  // keep inner folds folded
          var inner = item.dataset.path + "/", skip = item.nextElementSibling;
          while (skip && skip.dataset.path && skip.dataset.path.indexOf(inner) === 0) skip = skip.nextElementSibling;
          item = skip; continue;
        }
      }
      item = item.nextElementSibling;
    }
  }
  function select(row) {
    document.querySelectorAll(".waterfall .row[aria-selected]").forEach(function (r) { r.removeAttribute("aria-selected"); });
    row.setAttribute("aria-selected", "true");
    var tree = row.closest(".waterfall");
    if (window.htmx && tree) {  // the span's payloads load only now
      window.htmx.ajax("GET", "/traces/" + tree.dataset.trace + "/spans/" + row.id.slice(5), "#detail");
    }
  }
  // Rows that arrive later (scrolling a big trace) respect the folds already made.
  function refold() {
    document.querySelectorAll(".waterfall .row[aria-expanded='false']").forEach(function (row) {
      if (!row.classList.contains("hidden")) setFolded(row, true);
    });
  }
  // The findings load beside the tree: mark the spans they name.
  function markCulprits() {
    document.querySelectorAll("#findings a[data-span]").forEach(function (link) {
      var row = document.getElementById("span-" + link.dataset.span);
      if (!row) return;
      row.classList.add("culprit");
      var name = row.querySelector(".name");
      if (name && !name.querySelector(".marks .k-" + link.dataset.kind)) {
        var marks = name.querySelector(".marks") || name.appendChild(document.createElement("span"));
        marks.className = "marks";
        var kind = document.createElement("span");
        kind.className = "k-" + link.dataset.kind;
        kind.textContent = " " + link.dataset.kind;
        marks.appendChild(kind);
      }
    });
  }
  document.addEventListener("htmx:afterSettle", function () { refold(); markCulprits(); });
  document.addEventListener("DOMContentLoaded", function () {
    var first = document.querySelector(".waterfall .row");
    if (first) first.tabIndex = 0;
  });
  document.addEventListener("click", function (event) {
    var fold = event.target.closest(".waterfall .fold");
    var row = event.target.closest(".waterfall .row");
    if (!row) return;
    if (fold && row.hasAttribute("aria-expanded")) {
      setFolded(row, row.getAttribute("aria-expanded") === "true");
      event.stopPropagation(); event.preventDefault();
      return;
    }
    select(row);
  }, true);
  document.addEventListener("keydown", function (event) {
    var row = event.target.closest && event.target.closest(".waterfall .row");
    if (!row) return;
    var visible = Array.from(document.querySelectorAll(".waterfall .row:not(.hidden)"));
    var i = visible.indexOf(row);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var next = visible[i + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) { row.tabIndex = -1; next.tabIndex = 0; next.focus(); }
      event.preventDefault();
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && row.hasAttribute("aria-expanded")) {
      setFolded(row, event.key === "ArrowLeft");
      event.preventDefault();
    } else if (event.key === "Enter") { select(row); }
  });
  // A finding's span link opens that span's details.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-span]");
    if (!link) return;
    var row = document.getElementById("span-" + link.dataset.span);
    if (row) { row.scrollIntoView({block: "center"}); row.focus(); row.click(); }
  });

  // Trace page: n/p open the next/previous trace of the list it was opened from.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea")) return;
    if (event.key !== "n" && event.key !== "p") return;
    var link = document.querySelector(".neighbours a[rel='" + (event.key === "n" ? "next" : "prev") + "']");
    if (link) { event.preventDefault(); window.location = link.href; }
  });

  // Copy buttons: data-copy="text", or data-copy-next copies the <pre> before the button.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var text = button.dataset.copy;
    if (text === undefined) { var pre = button.previousElementSibling; text = pre ? pre.textContent : ""; }
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
    button.textContent = "Copied";
  });
})();
