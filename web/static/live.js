/* The hall view (/sittings/{id}/live): follows the sitting's event stream and updates the counts
   in place. Without JavaScript the page shows the state at load and a refresh link.
   Text goes in with textContent only: titles come from the agenda, never as markup. */
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource || !window.JSON) { return; }
  // The page's words in its language, from the Babel catalogs (sitting_live.html renders them).
  var words = JSON.parse(root.getAttribute("data-labels"));
  var state = JSON.parse(root.getAttribute("data-state"));
  var skew = 0; // server clock minus this device's, so the countdown agrees with the server

  function get(obj, path) {
    var parts = path.split(".");
    for (var i = 0; i < parts.length; i++) {
      if (obj === null || obj === undefined) { return undefined; }
      obj = obj[parts[i]];
    }
    return obj;
  }

  function x(name) { return root.querySelector('[data-x="' + name + '"]'); }

  function show(name, on) {
    var els = root.querySelectorAll('[data-show="' + name + '"]');
    for (var i = 0; i < els.length; i++) { els[i].hidden = !on; }
  }

  function left() {
    var v = state.vote;
    var el = x("left");
    if (!el || !v || v.status !== "open") { return; }
    if (!v.closes_at) { el.textContent = words.untimed; return; }
    var s = Math.max(0, Math.floor((Date.parse(v.closes_at) - (Date.now() + skew)) / 1000));
    el.textContent = Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
  }

  function render() {
    var v = state.vote;
    var fields = root.querySelectorAll("[data-k]");
    for (var i = 0; i < fields.length; i++) {
      var value = get(state, fields[i].getAttribute("data-k"));
      fields[i].textContent = value === null || value === undefined ? "" : String(value);
    }
    var quorum = x("quorum");
    quorum.textContent = state.has_quorum ? words.quorum.yes : words.quorum.no;
    quorum.className = "quorum " + (state.has_quorum ? "yes" : "no");
    root.setAttribute("data-status", v ? v.status : "none");
    show("vote", !!v);
    show("novote", !v);
    show("timer", !!v && v.status === "open");
    show("outcome", !!v && v.status === "closed");
    if (v) {
      x("status").textContent = words.status[v.status] || v.status;
      var progress = x("progress");
      progress.max = Math.max(1, v.entitled);
      progress.value = v.answered;
      progress.textContent = String(v.answered);
      var outcome = x("outcome");
      outcome.textContent = v.outcome ? (words.outcome[v.outcome] || v.outcome) : "";
      outcome.className = "outcome " + (v.outcome || "");
    }
    left();
  }

  function connected(on) {
    var el = x("conn");
    if (el) { el.textContent = on ? words.online : words.offline; }
  }

  var stream = new EventSource(root.getAttribute("data-events"));
  stream.addEventListener("live", function (e) {
    state = JSON.parse(e.data);
    skew = Date.parse(state.now) - Date.now();
    render();
    connected(true);
  });
  stream.addEventListener("open", function () { connected(true); });
  stream.addEventListener("error", function () { connected(false); }); // it reconnects by itself
  window.setInterval(left, 1000);
})();
