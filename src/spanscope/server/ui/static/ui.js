// Spanscope UI: keyboard navigation of the list and the span tree, folding, copy buttons.
// Small and dependency-free; htmx does the fragment loading (on the pages that use it).
(function () {
  "use strict";
  function rows(list) { return Array.from(list.querySelectorAll("tbody tr[tabindex]")); }
  function href(row) { var link = row.querySelector("a.id"); return link && link.href; }

  // Trace list: j/k move, Enter opens, the row is the link (its trace id's).
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea")) return;
    var table = document.querySelector("table.list[aria-label='Traces']");
    if (!table) return;
    var all = rows(table), index = all.indexOf(document.activeElement);
    if (event.key === "j" || event.key === "k") {
      var next = all[Math.max(0, Math.min(all.length - 1, index + (event.key === "j" ? 1 : -1)))];
      if (next) { next.focus(); event.preventDefault(); }
    } else if (event.key === "Enter" && index >= 0) {
      window.location = href(all[index]);
    }
  });
  document.addEventListener("click", function (event) {
    var row = event.target.closest("table.list[aria-label='Traces'] tbody tr[tabindex]");
    if (row && !event.target.closest("a, button, input, label")) window.location = href(row);
  });
  // The custom time range: typing a date picks "custom range"; a quick range clears it.
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form.filters");
    if (!form || !form.elements.since) return;
    if (event.target.name === "from" || event.target.name === "to") {
      if (event.target.value) form.elements.since.value = "custom";
    } else if (event.target.name === "since" && event.target.value !== "custom") {
      form.elements.from.value = ""; form.elements.to.value = "";
    }
  });

  // Span tree: fold a subtree. Rows come in display order (depth first), so a row's
  // subtree is the rows after it with a greater aria-level.
  function level(row) { return +row.getAttribute("aria-level"); }
  function below(row, item) {
    return item && item.classList.contains("row") && level(item) > level(row);
  }
  function setFolded(row, folded) {
    row.setAttribute("aria-expanded", folded ? "false" : "true");
    var item = row.nextElementSibling;
    while (below(row, item)) {
      if (folded) item.classList.add("hidden");
      else {
        item.classList.remove("hidden");
        if (item.getAttribute("aria-expanded") === "false") {  // keep inner folds folded
          var skip = item.nextElementSibling;
          while (below(item, skip)) skip = skip.nextElementSibling;
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
  // What the page loads after it is usable (a trace's findings) waits for it to be there.
  window.addEventListener("load", function () {
    setTimeout(function () { document.body.dispatchEvent(new CustomEvent("spanscope:loaded")); }, 0);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var first = document.querySelector(".waterfall .row");
    if (first) first.tabIndex = 0;
    // /traces/ID#span-SPAN (a search match's span): open that span when it is drawn.
    var wanted = /^#span-/.test(window.location.hash) && document.getElementById(window.location.hash.slice(1));
    if (wanted && wanted.classList.contains("row")) {
      window.addEventListener("load", function () { wanted.scrollIntoView({block: "center"}); select(wanted); });
    }
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

  // The filter box suggests what may come next where the caret is: a field or one of the
  // experiment's keys, then an operator, then a value for the fields that have few, then
  // AND / OR. ↓/↑ choose, Enter or Tab take one, Escape closes.
  var FIELDS = ["attributes.status", "attributes.timestamp_ms", "attributes.execution_time_ms",
    "attributes.name", "attributes.trace_id", "attributes.session_id", "attributes.user_id",
    "span.name", "span.type", "span.status", "span.duration_ms", "span.attributes.",
    "tags.", "metadata.", "feedback.", "expectation.", "inputs.", "outputs.", "request",
    "response", "NOT", "("];
  var OPERATORS = ["=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "CONTAINS", "IN (",
    "NOT IN (", "IS NULL", "IS NOT NULL"];
  var VALUES = {"attributes.status": ["'OK'", "'ERROR'", "'IN_PROGRESS'"],
    "span.status": ["'OK'", "'ERROR'", "'UNSET'"],
    "span.type": ["'LLM'", "'CHAT_MODEL'", "'RETRIEVER'", "'TOOL'", "'AGENT'", "'CHAIN'",
                  "'EMBEDDING'", "'RERANKER'", "'PARSER'"]};
  var KEYWORDS = /^(and|or|not)$/i, COMPARATOR = /^(=|==|!=|<>|<|<=|>|>=|like|ilike|rlike|contains)$/i;

  // The words before the caret (quoted strings kept whole) and the one being typed.
  function words(text) {
    var out = [], re = /'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|`[^`]*`?|[()]|[=!<>]+|[^\s()=!<>'"]+(?:`[^`]*`?[^\s()=!<>'"]*)*/g, m;
    while ((m = re.exec(text))) out.push({text: m[0], end: re.lastIndex});
    var typing = out.length && out[out.length - 1].end === text.length && !/[\s]$/.test(text)
      ? out.pop().text : "";
    if (typing === "(" || typing === ")" ||
        (/^['"]/.test(typing) && typing.length > 1 && typing.slice(-1) === typing[0])) {
      out.push({text: typing}); typing = "";  // a closed string is a word, not a prefix
    }
    return {before: out.map(function (w) { return w.text; }), typing: typing};
  }
  function isValue(word) {
    return /^['"]/.test(word) || /^-?[\d.]/.test(word) || /^(true|false|null)$/i.test(word) || word === ")";
  }
  function candidates(text, keys) {
    var w = words(text), before = w.before, last = before[before.length - 1] || "";
    var prev = before[before.length - 2] || "";
    if (!last || last === "(" || KEYWORDS.test(last)) {
      return {typing: w.typing, items: FIELDS.slice(0, -2).concat(keys, FIELDS.slice(-2))};
    }
    if (COMPARATOR.test(last) && !isValue(last)) return {typing: w.typing, items: VALUES[prev] || []};
    if (isValue(last) || /^null$/i.test(last)) return {typing: w.typing, items: ["AND", "OR", ")"]};
    if (/^(is|in)$/i.test(last)) return {typing: w.typing, items: /^is$/i.test(last) ? ["NULL", "NOT NULL"] : ["("]};
    return {typing: w.typing, items: OPERATORS};  // after a field
  }
  function matching(found) {
    var typed = found.typing.toLowerCase(), starts = [], inside = [];
    found.items.forEach(function (item) {
      var low = item.toLowerCase();
      if (low === typed) return;
      if (low.indexOf(typed) === 0) starts.push(item);
      else if (typed.length > 1 && low.indexOf(typed) > 0) inside.push(item);
    });
    return starts.concat(inside).slice(0, 12);
  }
  function setupSuggestions(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var keys = [];
    // The experiment's keys come once the list is there (the list does not wait for them).
    if (input.dataset.keysFrom) {
      window.addEventListener("load", function () {
        fetch(input.dataset.keysFrom, {credentials: "same-origin"})
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (found) {
            keys = found; showKeys(found);
            if (document.activeElement === input) open();
          })
          .catch(function () {});
      });
    }
    var active = -1, shown = [], typing = "";
    function close() {
      list.hidden = true; list.innerHTML = ""; active = -1; shown = [];
      input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
    }
    function mark(i) {
      active = i;
      Array.prototype.forEach.call(list.children, function (li, j) {
        li.setAttribute("aria-selected", j === i ? "true" : "false");
      });
      if (i >= 0) { input.setAttribute("aria-activedescendant", list.children[i].id); list.children[i].scrollIntoView({block: "nearest"}); }
      else input.removeAttribute("aria-activedescendant");
    }
    function open() {
      var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
      var found = candidates(input.value.slice(0, caret), keys);
      typing = found.typing; shown = matching(found);
      list.innerHTML = "";
      if (!shown.length) { close(); return; }
      shown.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = "filter-suggest-" + i; li.setAttribute("role", "option"); li.textContent = item;
        list.appendChild(li);
      });
      list.hidden = false; input.setAttribute("aria-expanded", "true"); mark(-1);
    }
    function take(item) {
      var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
      var start = caret - typing.length, rest = input.value.slice(caret);
      var glue = /[.(]$/.test(item) || item === "(" ? "" : " ";
      input.value = input.value.slice(0, start) + item + glue + rest.replace(/^\s+/, "");
      var at = start + item.length + glue.length;
      input.setSelectionRange(at, at); input.focus(); open();
    }
    input.addEventListener("input", open);
    input.addEventListener("focus", open);
    input.addEventListener("click", open);
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (list.hidden) open();
        if (!shown.length) return;
        if (event.key === "ArrowDown") mark(active + 1 < shown.length ? active + 1 : 0);
        else mark(active > 0 ? active - 1 : shown.length - 1);
        event.preventDefault();
      } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0 && !list.hidden) {
        take(shown[active]); event.preventDefault();
      } else if (event.key === "Escape" && !list.hidden) {
        close(); event.preventDefault();
      }
    });
    list.addEventListener("mousedown", function (event) {
      var li = event.target.closest("li[role='option']");
      if (li) { event.preventDefault(); take(li.textContent); }
    });
  }
  function showKeys(keys) {
    var hint = document.querySelector("p.keys");
    if (!hint) return;
    if (!keys.length) { hint.hidden = true; return; }
    hint.textContent = "";
    hint.appendChild(document.createElement("span")).textContent = "Keys in this experiment:";
    keys.slice(0, 12).forEach(function (key) {
      hint.appendChild(document.createElement("code")).textContent = key;
    });
    if (keys.length > 12) hint.appendChild(document.createElement("span")).textContent = "…";
    hint.classList.remove("pending");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.querySelector("input[role='combobox'][aria-controls='filter-suggest']");
    if (input) setupSuggestions(input);
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
