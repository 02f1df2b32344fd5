// The policy editor: the facts panel is searched as you type (every word must appear in the path,
// the type or the meaning), a fact's path is inserted at the cursor when clicked, and "Show in the
// editor" selects the line and column a problem is about. Served as a file: the CSP allows no
// inline script.
(function () {
  "use strict";

  function setUp() {
    var editor = document.getElementById("policy-text");
    var search = document.getElementById("fact-search");
    var rows = Array.prototype.slice.call(document.querySelectorAll("#facts tr.fact"));
    var count = document.getElementById("fact-count");
    var none = document.getElementById("no-fact");

    function filter() {
      var words = search.value.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; });
      var shown = 0;
      rows.forEach(function (row) {
        var text = row.textContent.toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) !== -1; });
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      count.textContent = shown === rows.length ? rows.length + " facts" : shown + " of " + rows.length + " facts";
      none.hidden = shown !== 0;
    }

    function insert(text) {
      var start = editor.selectionStart, end = editor.selectionEnd;
      editor.setRangeText(text, start, end, "end");
      editor.focus();
    }

    // Select from (line, column) to the end of that line: the problem's place, visible at once.
    function select(line, column) {
      var lines = editor.value.split("\n");
      if (line < 1 || line > lines.length) { return; }
      var offset = 0;
      for (var i = 0; i < line - 1; i += 1) { offset += lines[i].length + 1; }
      var start = offset + Math.min(Math.max(column - 1, 0), lines[line - 1].length);
      editor.focus();
      editor.setSelectionRange(start, offset + lines[line - 1].length);
      var height = editor.scrollHeight / Math.max(lines.length, 1);
      editor.scrollTop = Math.max(0, (line - 5) * height);
    }

    if (search && count && none) {
      search.addEventListener("input", filter);
      filter();
    }
    if (editor) {
      document.querySelectorAll("#facts .fact-path").forEach(function (button) {
        button.addEventListener("click", function () { insert(button.dataset.path); });
      });
      document.querySelectorAll("#problems .problem").forEach(function (item) {
        var button = item.querySelector(".show-line");
        if (!button || !item.dataset.line) { return; }
        button.addEventListener("click", function () {
          select(parseInt(item.dataset.line, 10), parseInt(item.dataset.column || "1", 10));
        });
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
