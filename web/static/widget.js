/* The sitting widget inside Element (/widgets/sittings/{id}): signs the person in with the
   widget API's OpenID token (matrix-widget-api: answer the client's "capabilities" request,
   then ask "get_openid"; a "request" state is answered later by "openid_credentials") and posts
   it to /api/v1/session/openid. A bonus only: the page is public and works without it, and
   outside a Matrix client (no parent window) nothing is asked.
   Links that leave the widget pages open in a new tab: the rest of the site may not be framed.
   No inline script (CSP); text goes in with textContent only. */
(function () {
  "use strict";
  var bar = document.getElementById("widget-bar");
  if (!bar) { return; }

  var links = document.querySelectorAll("a[href]");
  for (var i = 0; i < links.length; i++) {
    var href = links[i].getAttribute("href") || "";
    if (href.indexOf("/widgets/") !== 0 && href.indexOf("#") !== 0) {
      links[i].setAttribute("target", "_blank");
      links[i].setAttribute("rel", "noopener");
    }
  }

  if (window.parent === window || !window.fetch || !window.JSON) { return; }
  var who = document.getElementById("widget-who");
  if (who && who.textContent.trim()) { return; } // already signed in (the cookie came along)

  var params = new URLSearchParams(window.location.search);
  var widgetId = params.get("widgetId") || "";
  var target = "*"; // the OpenID request carries nothing secret; answers are checked by source
  try { if (params.get("parentUrl")) { target = new URL(params.get("parentUrl")).origin; } } catch (e) { /* keep "*" */ }
  var asked = null; // the requestId of our get_openid
  var done = false;

  function post(message) { window.parent.postMessage(message, target); }

  function signIn(creds) {
    if (done || !creds || creds.state !== "allowed" || !creds.access_token) { return; }
    done = true;
    fetch(bar.getAttribute("data-signin"), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({access_token: creds.access_token,
                            matrix_server_name: creds.matrix_server_name})
    }).then(function (resp) { return resp.ok ? resp.json() : null; }).then(function (body) {
      if (body && body.user_id && who) {
        who.textContent = bar.getAttribute("data-signed-in").replace("%(who)s", body.user_id);
      }
    }).catch(function () { /* the page works signed out */ });
  }

  function askOpenId() {
    if (asked) { return; }
    asked = "kabinet-openid-" + Date.now();
    post({api: "fromWidget", widgetId: widgetId, requestId: asked, action: "get_openid", data: {}});
  }

  window.addEventListener("message", function (event) {
    var msg = event.data;
    if (event.source !== window.parent || !msg || typeof msg !== "object") { return; }
    if (msg.api === "toWidget" && msg.action && !msg.response) {
      var response = {};
      if (msg.action === "capabilities") { response = {capabilities: []}; }
      if (msg.action === "openid_credentials" && msg.data && msg.data.original_request_id === asked) {
        signIn(msg.data);
      }
      var reply = {};
      for (var k in msg) { if (Object.prototype.hasOwnProperty.call(msg, k)) { reply[k] = msg[k]; } }
      reply.response = response;
      post(reply);
      if (msg.action === "capabilities") { setTimeout(askOpenId, 0); }
    } else if (msg.api === "fromWidget" && msg.requestId === asked && msg.response) {
      signIn(msg.response); // "request": the client asks the person, then openid_credentials
    }
  });
})();
