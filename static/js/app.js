// Tell the server the viewer's time zone so dates render in it (imports.middleware).
(function () {
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("tz=" + tz) === -1) {
      document.cookie = "tz=" + encodeURIComponent(tz) + ";path=/;max-age=31536000;samesite=lax";
    }
  } catch (e) { /* old browser: server time zone it is */ }
})();

// The listing's filter form shows the filters its rows were made with, whatever brought the
// rows: on Back/Forward htmx restores a snapshot of the page, and a snapshot keeps each
// select's `selected` attribute from when the page was first served, not the value picked
// since (the browser's back-forward cache and form restoration can do the same). The URL
// always holds the filters the rows came from (hx-push-url), so the form is set from it.
(function () {
  function syncFilters() {
    var form = document.getElementById("filters");
    if (!form) { return; }
    var params = new URLSearchParams(window.location.search);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "submit" || el.type === "button" || el.type === "hidden") {
        return;  // the hidden sort field comes with the rows it sorted
      }
      var value = params.get(el.name) || "";
      if (el.tagName === "SELECT") {
        var match = Array.prototype.find.call(el.options, function (opt) { return opt.value === value; });
        el.value = match ? value : (el.options.length ? el.options[0].value : "");
      } else {
        el.value = value;
      }
    });
  }
  document.addEventListener("htmx:historyRestore", syncFilters);
  window.addEventListener("pageshow", syncFilters);
})();

// The health trend's change markers (history.marks): their `data-tip` in a tooltip on hover
// and on keyboard focus (an SVG <title> shows late, and never on focus).
(function () {
  var tip = null;
  function show(event) {
    var marker = event.target.closest && event.target.closest("[data-tip]");
    if (!marker) { return; }
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "chart-tip";
      tip.setAttribute("role", "tooltip");
      tip.id = "chart-tip";
      document.body.appendChild(tip);
    }
    tip.textContent = marker.getAttribute("data-tip");
    tip.hidden = false;
    marker.setAttribute("aria-describedby", "chart-tip");
    var box = marker.getBoundingClientRect();
    var left = Math.min(box.left + window.scrollX + 12, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(left, 8) + "px";
    tip.style.top = (box.top + window.scrollY + 14) + "px";
  }
  function hide(event) {
    if (tip && event.target.closest && event.target.closest("[data-tip]")) { tip.hidden = true; }
  }
  document.addEventListener("mouseover", show);
  document.addEventListener("focusin", show);
  document.addEventListener("mouseout", hide);
  document.addEventListener("focusout", hide);
})();
// Row actions that ask first (Stop, Cancel run, a draft's Delete) carry their question in
// `data-confirm` on their button (the row actions share one form) or on their form: the form is
// sent only if the user agrees, with `confirmed=1` so the server does not ask again. Without
// JavaScript the server asks on a page of its own.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var asker = (event.submitter && event.submitter.hasAttribute("data-confirm")) ? event.submitter : form;
  var question = asker.getAttribute("data-confirm");
  if (!question) { return; }
  if (!window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.elements.confirmed) { form.elements.confirmed.value = "1"; }
});
