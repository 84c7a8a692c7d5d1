// Pluralis collection app: progressive enhancement only; every page works without JavaScript.
(function () {
  "use strict";
  function describe(input) {
    var min = +input.min, max = +input.max, v = (+input.value - min) / (max - min);
    var left = input.dataset.left || "", right = input.dataset.right || "";
    var words = v < 0.1 ? "very close to " + left : v < 0.35 ? "closer to " + left :
                v <= 0.65 ? "in the middle between " + left + " and " + right : v <= 0.9 ? "closer to " + right : "very close to " + right;
    input.setAttribute("aria-valuetext", words);
  }
  document.querySelectorAll('input[type="range"]').forEach(function (input) {
    describe(input);
    // A rating slider counts only once moved (mouse, touch or keyboard): mark its hidden ``__touched`` field.
    var marker = document.querySelector('input[type="hidden"][data-touch-for="' + input.name + '"]');
    function touched() { describe(input); input.classList.add("touched"); if (marker) { marker.value = "1"; } }
    input.addEventListener("input", touched);
    input.addEventListener("change", touched);
  });
  document.querySelectorAll("input[type=checkbox][name$='__na']").forEach(function (box) {
    var slider = document.getElementById(box.name.replace(/__na$/, ""));
    if (!slider) return;
    slider.disabled = box.checked;
    box.addEventListener("change", function () { slider.disabled = box.checked; });
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var btn = form.querySelector("button[data-busy]");
      if (btn) { btn.disabled = true; btn.textContent = btn.dataset.busy; }
    });
  });
  // The admin's deletion form: the participant's id goes into the address it is sent to.
  var del = document.getElementById("delete-form");
  if (del) {
    del.addEventListener("submit", function (e) {
      var id = del.elements.user_id.value.trim();
      if (!id || !window.confirm(del.dataset.confirm)) { e.preventDefault(); return; }
      del.action = del.dataset.action.replace("{id}", encodeURIComponent(id));
    });
  }
  // A page that comes back with errors: move focus to the summary, whose links lead to the fields.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  // The waiting page: count the seconds between the page's own refreshes.
  var waiting = document.querySelector(".waiting[data-elapsed]");
  if (waiting) {
    var start = Date.now() - 1000 * (+waiting.dataset.elapsed || 0), limit = +waiting.dataset.timeout || 0;
    var bar = document.getElementById("wait-progress"), shown = waiting.querySelector(".wait-elapsed");
    window.setInterval(function () {
      var s = Math.floor((Date.now() - start) / 1000);
      if (bar) { bar.value = limit ? Math.min(s, limit) : s; }
      if (shown) { shown.textContent = String(s); }
    }, 1000);
  }
})();
