// Hands the authorization response to the application: submits the form_post form, or posts
// the web_message response to the window that opened or framed this page, at the redirect
// URI's origin only (nobody else can read it).
"use strict";

(() => {
  const form = document.getElementById("response-form");
  if (form) {
    form.submit();
    return;
  }
  const holder = document.getElementById("web-message");
  if (!holder) return;
  const target = window.opener || (window.parent !== window ? window.parent : null);
  if (!target) return;
  const response = JSON.parse(holder.dataset.response);
  target.postMessage({ type: "authorization_response", response }, holder.dataset.origin);
})();
