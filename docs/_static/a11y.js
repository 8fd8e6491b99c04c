/* Accessibility repairs to markup from pydata-sphinx-theme 0.20 / sphinx-book-theme 1.4 that CSS cannot
   reach. Loaded with defer (docs/conf.py, html_js_files), so the document is parsed when it runs.
   Checked by tests/browser (axe-core in headless Chromium). */
(function () {
  "use strict";

  function text(el) {
    if (!el) return "";
    var copy = el.cloneNode(true);
    copy.querySelectorAll(".headerlink").forEach(function (a) { a.remove(); });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  /* axe summary-name (WCAG 4.1.2): the left navigation's collapsible sections are <details> whose <summary>
     holds only a chevron icon, so screen readers announce an unnamed control. Name it after its page. */
  function nameNavToggles() {
    document.querySelectorAll(".bd-sidebar-primary li > details > summary").forEach(function (summary) {
      if (summary.hasAttribute("aria-label") || summary.textContent.trim()) return;
      var title = text(summary.parentElement.parentElement.querySelector(":scope > a"));
      summary.setAttribute("aria-label", title ? "Pages under " + title : "Pages in this section");
    });
  }

  /* axe label-content-name-mismatch (WCAG 2.5.3 Label in Name): the search buttons show "Search Ctrl+K"
     but aria-label names them just "Search". Without it their name is their visible text. */
  function nameSearchButtons() {
    document.querySelectorAll("button.search-button-field[aria-label]").forEach(function (button) {
      if (button.textContent.trim()) button.removeAttribute("aria-label");
    });
  }

  /* axe region (best practice): the site's name and home link at the top of the left sidebar sits outside
     every landmark, so a screen-reader user moving by landmarks never reaches it. It is the site's own
     navigation home: make its wrapper a navigation landmark with a name unlike the "Main" page list's. */
  function landmarkSiteName() {
    document.querySelectorAll(".bd-sidebar-primary .sidebar-primary-item > a.navbar-brand").forEach(function (a) {
      var item = a.parentElement;
      if (item.closest("nav, [role=navigation], header, [role=banner]") || item.hasAttribute("role")) return;
      item.setAttribute("role", "navigation");
      item.setAttribute("aria-label", "Site home");
    });
  }

  /* The theme makes a table, code block or notebook output that overflows (on a phone, say) focusable with
     tabindex=0 so keyboard users can scroll it, but leaves that stop unnamed and without a role (axe
     focus-order-semantics). Make it a labelled region while it is focusable; undo when it no longer is. */
  var SCROLLABLE = "pre, .cell_output > .output, .pst-scrollable-table-container";

  function labelTaken(label, self) {
    return Array.prototype.some.call(document.querySelectorAll("[role=region][aria-label]"), function (other) {
      return other !== self && other.getAttribute("aria-label") === label;
    });
  }

  function labelScrollable(el) {
    var mine = el.hasAttribute("data-a11y-region");
    if (el.getAttribute("tabindex") === "0") {
      if (el.hasAttribute("role") && !mine) return;
      var table = el.querySelector("table");
      var caption = table && text(table.querySelector("caption"));
      var section = el.closest("section");
      var heading = text(el.querySelector("h1, h2, h3, h4, h5, h6")) ||
        (section && text(section.querySelector(":scope > h1, :scope > h2, :scope > h3, :scope > h4")));
      var what = el.matches("pre") ? "code" : table ? "table" : "content";
      var label = "Scrollable " + what + (caption || heading ? ": " + (caption || heading) : "");
      if (mine && el.getAttribute("aria-label").indexOf(label) === 0) return;
      var unique = label;
      for (var n = 2; labelTaken(unique, el); n++) unique = label + " (" + n + ")"; // axe landmark-unique
      el.setAttribute("role", "region");
      el.setAttribute("aria-label", unique);
      el.setAttribute("data-a11y-region", "");
    } else if (mine) {
      el.removeAttribute("role");
      el.removeAttribute("aria-label");
      el.removeAttribute("data-a11y-region");
    }
  }

  function watchScrollable() {
    var main = document.getElementById("main-content") || document.body;
    main.querySelectorAll(SCROLLABLE).forEach(labelScrollable);
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        if (r.target.matches && r.target.matches(SCROLLABLE)) labelScrollable(r.target);
      });
    }).observe(main, { subtree: true, attributes: true, attributeFilter: ["tabindex"] });
  }

  /* A table wider than its container gets a visible cue: an edge shadow (nhs.css .is-overflowing) and a
     one-line note before it, so nobody misses the columns on the right. Re-checked when the window resizes. */
  var OVERFLOW = ".table-scroll, .pst-scrollable-table-container";

  /* The box that scrolls a table: its scroll wrapper, or (a notebook's table, which has none) its parent, made
     to scroll sideways here so a wide table never pushes the page sideways. */
  function scrollBox(table) {
    var box = table.closest(OVERFLOW);
    if (box) return box;
    box = table.parentElement;
    if (box && getComputedStyle(box).overflowX === "visible") {
      box.style.overflowX = "auto";
      box.style.maxWidth = "100%";
    }
    return box;
  }

  function markOverflow() {
    var main = document.getElementById("main-content") || document.body;
    var boxes = Array.prototype.slice.call(document.querySelectorAll(OVERFLOW));
    main.querySelectorAll("table").forEach(function (table) {
      var box = scrollBox(table);
      if (box && boxes.indexOf(box) < 0) boxes.push(box);
    });
    boxes.forEach(function (box) {
      var over = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("is-overflowing", over);
      var cue = box.previousElementSibling;
      var hasCue = cue && cue.classList && cue.classList.contains("scroll-cue");
      if (over && !hasCue) {
        var note = document.createElement("p");
        note.className = "scroll-cue";
        note.textContent = "This table is wider than the page: scroll sideways to see every column.";
        box.parentNode.insertBefore(note, box);
      } else if (!over && hasCue) {
        cue.remove();
      }
    });
  }

  function repair() {
    markOverflow();
    window.addEventListener("resize", markOverflow);
    nameNavToggles();
    nameSearchButtons();
    landmarkSiteName();
    watchScrollable();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", repair);
  } else {
    repair();
  }
})();
