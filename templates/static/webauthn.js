// webauthn.js drives passkey registration and sign-in on idvauth's pages.
// It is served from /assets/ under the pages' Content-Security-Policy
// (script-src 'self', connect-src 'self'): no inline script, no eval, no
// external asset.
//
// A page opts in with a button (or any element) carrying:
//
//   data-webauthn="create" | "get"  the ceremony: navigator.credentials.create or .get
//   data-webauthn-options="{...}"    the server's options as JSON, in the
//                                    WebAuthn JSON shape ({"publicKey": {...}},
//                                    binary fields base64url-encoded, as
//                                    go-webauthn writes them)
//   data-webauthn-finish="/path"     where the credential is POSTed as JSON
//   data-webauthn-csrf="token"       sent as the X-CSRF-Token header
//   data-webauthn-status="id"        (optional) the id of the element that
//                                    shows a failure; it should be role=alert
//
// On click the script runs the ceremony and POSTs the credential, encoded
// as the WebAuthn JSON (PublicKeyCredential.toJSON) shape, to the finish
// URL with credentials "same-origin". The server answers JSON: {"redirect":
// "/next"} to go on, or {"error": "...", "error_description": "..."}. The
// page stays usable without JavaScript for everything but passkeys.
"use strict";
(function () {
  // b64urlToBytes decodes base64url (with or without padding).
  function b64urlToBytes(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  // bytesToB64url encodes an ArrayBuffer or view as unpadded base64url.
  function bytesToB64url(buf) {
    var bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // decodeOptions turns the JSON options' base64url fields into buffers.
  function decodeOptions(kind, opts) {
    var pk = opts.publicKey || opts;
    pk.challenge = b64urlToBytes(pk.challenge);
    if (kind === "create" && pk.user) {
      pk.user.id = b64urlToBytes(pk.user.id);
    }
    var lists = [pk.excludeCredentials, pk.allowCredentials];
    for (var i = 0; i < lists.length; i++) {
      var list = lists[i] || [];
      for (var j = 0; j < list.length; j++) {
        list[j].id = b64urlToBytes(list[j].id);
      }
    }
    var out = { publicKey: pk };
    if (opts.mediation) {
      out.mediation = opts.mediation;
    }
    return out;
  }

  // encodeCredential is PublicKeyCredential.toJSON, written out for the
  // browsers that lack it.
  function encodeCredential(cred) {
    var r = cred.response;
    var resp = { clientDataJSON: bytesToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = bytesToB64url(r.attestationObject);
      if (typeof r.getTransports === "function") {
        resp.transports = r.getTransports();
      }
    } else {
      resp.authenticatorData = bytesToB64url(r.authenticatorData);
      resp.signature = bytesToB64url(r.signature);
      if (r.userHandle) {
        resp.userHandle = bytesToB64url(r.userHandle);
      }
    }
    return {
      id: cred.id,
      rawId: bytesToB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: resp
    };
  }

  function showError(el, text) {
    var id = el.getAttribute("data-webauthn-status");
    var box = id ? document.getElementById(id) : null;
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
  }

  async function run(el) {
    var kind = el.getAttribute("data-webauthn");
    var options = decodeOptions(kind, JSON.parse(el.getAttribute("data-webauthn-options")));
    var cred;
    try {
      cred = kind === "create" ? await navigator.credentials.create(options) : await navigator.credentials.get(options);
    } catch (e) {
      showError(el, "The passkey was not used: " + e.name + ".");
      return;
    }
    var resp = await fetch(el.getAttribute("data-webauthn-finish"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": el.getAttribute("data-webauthn-csrf") || "" },
      body: JSON.stringify(encodeCredential(cred))
    });
    var body = {};
    try {
      body = await resp.json();
    } catch (e) {
      body = {};
    }
    if (resp.ok && typeof body.redirect === "string" && body.redirect.charAt(0) === "/" && body.redirect.charAt(1) !== "/") {
      window.location.assign(body.redirect);
      return;
    }
    showError(el, body.error_description || "The passkey could not be checked.");
  }

  function init() {
    if (!window.PublicKeyCredential) {
      return;
    }
    var els = document.querySelectorAll("[data-webauthn]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      el.hidden = false;
      el.disabled = false;
      el.addEventListener("click", function (ev) {
        ev.preventDefault();
        var target = ev.currentTarget;
        target.disabled = true;
        run(target).catch(function () {
          showError(target, "The passkey could not be sent to the server.");
        }).finally(function () {
          target.disabled = false;
        });
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
