// The hosted login pages: a passkey ceremony and push polling. Every form works without this
// script except those two, which need the browser's WebAuthn and a poll.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = false;
  }

  function fromB64url(text) {
    const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  }

  function toB64url(buffer) {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromB64url(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
    };
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromB64url(json.challenge),
      user: { ...json.user, id: fromB64url(json.user.id) },
      excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
    };
  }

  function credentialJson(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = r.attestationObject
      ? {
          clientDataJSON: toB64url(r.clientDataJSON),
          attestationObject: toB64url(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : [],
        }
      : {
          clientDataJSON: toB64url(r.clientDataJSON),
          authenticatorData: toB64url(r.authenticatorData),
          signature: toB64url(r.signature),
          userHandle: r.userHandle ? toB64url(r.userHandle) : undefined,
        };
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  // Both ceremonies: `create` makes a passkey (the enrolment page), else one is used.
  async function usePasskey(form, create) {
    if (!window.PublicKeyCredential) {
      showError(form.dataset.unsupported || "This browser does not support passkeys.");
      return;
    }
    const answer = await fetch(form.dataset.options, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: form.elements.csrf.value }),
      credentials: "same-origin",
    });
    if (!answer.ok) {
      // The transaction ran out: the form's own POST restarts it.
      form.submit();
      return;
    }
    const started = await answer.json();
    let credential;
    try {
      credential = create
        ? await navigator.credentials.create({
            publicKey: creationOptions(started.authn_params_public_key),
          })
        : await navigator.credentials.get({
            publicKey: requestOptions(started.authn_params_public_key),
          });
    } catch (err) {
      showError(err && err.name === "NotAllowedError" ? "The passkey request was cancelled." : String(err));
      return;
    }
    form.elements.auth_session.value = started.auth_session;
    form.elements.response.value = JSON.stringify(credentialJson(credential));
    form.submit();
  }

  function pollPush(form) {
    const body = () => new URLSearchParams({ csrf: form.elements.csrf.value });
    const tick = async () => {
      let answer;
      try {
        answer = await fetch(form.dataset.poll, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: body(),
          credentials: "same-origin",
        });
      } catch (err) {
        setTimeout(tick, 5000);
        return;
      }
      const result = await answer.json().catch(() => ({}));
      if (result.approved) {
        form.submit();
      } else if (result.error) {
        showError(result.error);
      } else {
        setTimeout(tick, 3000);
      }
    };
    setTimeout(tick, 3000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const passkeyForm = $("passkey-form");
    const button = $("passkey-button");
    if (passkeyForm && button) {
      button.addEventListener("click", () => {
        usePasskey(passkeyForm, false).catch((err) => showError(String(err)));
      });
    }
    const enrolForm = $("passkey-enroll-form");
    const enrolButton = $("passkey-enroll");
    if (enrolForm && enrolButton) {
      enrolButton.addEventListener("click", () => {
        usePasskey(enrolForm, true).catch((err) => showError(String(err)));
      });
    }
    const pushForm = $("push-form");
    if (pushForm) pollPush(pushForm);
  });
})();
