// The account page: sign in (password then a factor, or a passkey) through /account/api/*, then
// manage sign-in methods through the My Account API (/me/v1). The access token lives in this
// closure only, never in a cookie or storage: a reload means signing in again.
"use strict";

(() => {
  const GRANT = {
    password: "password",
    otp: "http://auth0.com/oauth/grant-type/mfa-otp",
    oob: "http://auth0.com/oauth/grant-type/mfa-oob",
    recovery: "http://auth0.com/oauth/grant-type/mfa-recovery-code",
    passkey: "urn:okta:params:oauth:grant-type:webauthn",
  };
  const ME = "/me/v1";
  const PUSH_POLL_MS = 2000;
  const LABELS = {
    passkey: "Passkey",
    totp: "Authenticator app",
    phone: "Phone",
    email: "Email",
    "push-notification": "Push notifications",
    "recovery-code": "Recovery code",
  };
  const ADD_LABELS = { ...LABELS, "recovery-code": "New recovery code" };

  let accessToken = null;
  let mfaToken = null;
  let factorStep = null; // what the code form of the sign-in answers: {grant, oob_code}
  let enrolment = null; // {id, type, auth_session}

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ messages and sections

  function say(text) {
    $("status").textContent = text || "";
    $("error").textContent = "";
  }

  function fail(text) {
    $("error").textContent = text;
  }

  function show(section) {
    for (const id of ["signin", "factor", "account"]) $(id).hidden = id !== section;
    $("sign-out").hidden = section !== "account";
    const title = $(`${section}-title`);
    if (title) title.focus();
  }

  class Refused extends Error {
    constructor(status, body) {
      super(
        (body && (body.error_description || body.detail || body.title)) ||
          `The server answered ${status}`,
      );
      this.status = status;
      this.body = body || {};
    }
  }

  async function readJson(response) {
    const text = await response.text();
    if (!text) return {};
    try {
      return JSON.parse(text);
    } catch {
      return {};
    }
  }

  async function send(url, { method, body, token } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, {
      method: method || (body === undefined ? "GET" : "POST"),
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    if (response.status === 204) return {};
    const data = await readJson(response);
    if (!response.ok) throw new Refused(response.status, data);
    return data;
  }

  // A My Account call; a 401 means the token is spent or worth nothing now: sign in again.
  async function me(path, options = {}) {
    try {
      return await send(ME + path, { ...options, token: accessToken });
    } catch (err) {
      if (err instanceof Refused && err.status === 401) {
        signOut(`${err.message}. Please sign in again.`);
      }
      throw err;
    }
  }

  // Runs a user action: its failure is shown, never thrown to the console alone.
  function action(fn) {
    return async (event) => {
      if (event) event.preventDefault();
      $("error").textContent = "";
      try {
        await fn(event);
      } catch (err) {
        fail(err instanceof Refused || err instanceof Error ? err.message : String(err));
      }
    };
  }

  // ------------------------------------------------------------------ WebAuthn (JSON forms)

  function fromB64url(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  }

  function toB64url(buffer) {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));

  // Options as navigator.credentials takes them: the browser's own JSON parser where it has
  // one, else decoded here.
  function publicKeyOptions(json, parser, decode) {
    const parse = PublicKeyCredential[parser];
    return parse ? parse.call(PublicKeyCredential, json) : decode(json);
  }

  const creationOptions = (json) =>
    publicKeyOptions(json, "parseCreationOptionsFromJSON", (j) => ({
      ...j,
      challenge: fromB64url(j.challenge),
      user: { ...j.user, id: fromB64url(j.user.id) },
      excludeCredentials: withIds(j.excludeCredentials),
    }));

  const requestOptions = (json) =>
    publicKeyOptions(json, "parseRequestOptionsFromJSON", (j) => ({
      ...j,
      challenge: fromB64url(j.challenge),
      allowCredentials: withIds(j.allowCredentials),
    }));

  function credentialJson(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  function needWebAuthn() {
    if (!window.PublicKeyCredential) throw new Error("This browser does not support passkeys.");
  }

  // ------------------------------------------------------------------ signing in

  async function exchange(body) {
    try {
      await signedIn(await send("/account/api/token", { body }));
    } catch (err) {
      if (err instanceof Refused && err.body.error === "mfa_required") {
        mfaToken = err.body.mfa_token;
        await chooseFactor();
        return;
      }
      throw err;
    }
  }

  const passwordSignIn = action(async () => {
    const username = $("username").value.trim();
    const password = $("password").value;
    $("password").value = "";
    say("Signing in…");
    await exchange({ grant_type: GRANT.password, username, password });
  });

  const passkeySignIn = action(async () => {
    needWebAuthn();
    say("Waiting for your passkey…");
    const started = await send("/account/api/passkey-challenge", { body: {} });
    const credential = await navigator.credentials.get({
      publicKey: requestOptions(started.authn_params_public_key),
    });
    await exchange({
      grant_type: GRANT.passkey,
      auth_session: started.auth_session,
      authn_response: credentialJson(credential),
    });
  });

  function factorLabel(a) {
    const name = a.name ? ` (${a.name})` : "";
    if (a.authenticator_type === "otp") return `Authenticator app${name}`;
    if (a.authenticator_type === "recovery-code") return "Recovery code";
    const channel = { sms: "Text message", voice: "Voice call", email: "Email", auth0: "Push" };
    return `${channel[a.oob_channel] || a.oob_channel}${name}`;
  }

  async function chooseFactor() {
    const listed = await send("/mfa/authenticators", { token: mfaToken });
    const select = $("factor-select");
    select.replaceChildren();
    for (const a of listed.filter((x) => x.active)) {
      const option = document.createElement("option");
      option.value = JSON.stringify({ id: a.id, type: a.authenticator_type });
      option.textContent = factorLabel(a);
      select.append(option);
    }
    $("factor-choice").hidden = false;
    $("factor-code").hidden = true;
    say("");
    show("factor");
  }

  function askCode(label, step) {
    factorStep = step;
    $("factor-code-label").textContent = label;
    $("factor-code-input").value = "";
    $("factor-code-input").inputMode = step.grant === GRANT.recovery ? "text" : "numeric";
    $("factor-choice").hidden = true;
    $("factor-code").hidden = false;
    $("factor-code-input").focus();
  }

  const factorChosen = action(async () => {
    const chosen = JSON.parse($("factor-select").value || "null");
    if (!chosen) throw new Error("No factor to verify with.");
    if (chosen.type === "otp") {
      askCode("Code from your authenticator app", { grant: GRANT.otp });
    } else if (chosen.type === "recovery-code") {
      askCode("Recovery code", { grant: GRANT.recovery });
    } else {
      const challenge = await send("/account/api/challenge", {
        body: { mfa_token: mfaToken, authenticator_id: chosen.id, challenge_type: "oob" },
      });
      if (challenge.binding_method === "prompt") {
        say("A code is on its way.");
        askCode("The code you received", { grant: GRANT.oob, oob_code: challenge.oob_code });
      } else {
        say("Approve the sign-in on your device…");
        await waitForPush(challenge.oob_code);
      }
    }
  });

  async function waitForPush(oobCode) {
    for (;;) {
      try {
        await exchange({ grant_type: GRANT.oob, mfa_token: mfaToken, oob_code: oobCode });
        return;
      } catch (err) {
        if (!(err instanceof Refused) || err.body.error !== "authorization_pending") throw err;
      }
      await new Promise((done) => setTimeout(done, PUSH_POLL_MS));
    }
  }

  const factorCode = action(async () => {
    const code = $("factor-code-input").value.trim();
    const body = { grant_type: factorStep.grant, mfa_token: mfaToken };
    if (factorStep.grant === GRANT.otp) body.otp = code;
    if (factorStep.grant === GRANT.recovery) body.recovery_code = code;
    if (factorStep.grant === GRANT.oob) {
      body.oob_code = factorStep.oob_code;
      body.binding_code = code;
    }
    await exchange(body);
  });

  async function signedIn(tokens) {
    accessToken = tokens.access_token;
    mfaToken = null;
    factorStep = null;
    $("recovery-shown").hidden = !tokens.recovery_code;
    $("recovery-shown-code").textContent = tokens.recovery_code || "";
    say("Signed in.");
    show("account");
    await refresh();
  }

  function signOut(message) {
    accessToken = null;
    mfaToken = null;
    factorStep = null;
    endEnrolment();
    $("methods").replaceChildren();
    $("recovery-shown").hidden = true;
    $("recovery-shown-code").textContent = "";
    $("password").value = "";
    say(message || "Signed out.");
    show("signin");
  }

  // ------------------------------------------------------------------ the methods

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "never";
  }

  function describe(m) {
    const parts = [];
    if (m.phone_number) parts.push(m.phone_number);
    if (m.email) parts.push(m.email);
    if (m.type === "passkey" && m.credential_backed_up) parts.push("synced");
    if (!m.confirmed) parts.push("not confirmed");
    parts.push(`added ${when(m.created_at)}`);
    parts.push(`last used ${when(m.last_auth_at)}`);
    return parts.join(" · ");
  }

  function button(text, onClick, className) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (className) b.className = className;
    b.addEventListener("click", onClick);
    return b;
  }

  function renameForm(item, m) {
    const form = document.createElement("form");
    form.className = "rename";
    const id = `rename-${item.dataset.index}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "New name";
    const input = document.createElement("input");
    input.id = id;
    input.maxLength = 255;
    input.required = true;
    input.value = m.name || "";
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    form.append(label, input, save, button("Cancel", () => form.remove(), "secondary"));
    form.addEventListener(
      "submit",
      action(async () => {
        await me(`/authentication-methods/${encodeURIComponent(m.id)}`, {
          method: "PATCH",
          body: { name: input.value.trim() },
        });
        say("Renamed.");
        await refresh();
      }),
    );
    return form;
  }

  function confirmDelete(item, m) {
    const box = document.createElement("div");
    box.className = "confirm";
    box.setAttribute("role", "group");
    const text = document.createElement("p");
    text.textContent = `Delete this ${LABELS[m.type] || m.type}?`;
    const yes = button(
      "Yes, delete",
      action(async () => {
        await me(`/authentication-methods/${encodeURIComponent(m.id)}`, { method: "DELETE" });
        say(`${LABELS[m.type] || m.type} deleted.`);
        await refresh();
      }),
      "danger",
    );
    box.append(text, yes, button("Keep it", () => box.remove(), "secondary"));
    return box;
  }

  function methodItem(m, index) {
    const item = document.createElement("li");
    item.dataset.index = String(index);
    item.dataset.type = m.type;
    const title = document.createElement("h3");
    title.textContent = m.name ? `${LABELS[m.type] || m.type}: ${m.name}` : LABELS[m.type] || m.type;
    const details = document.createElement("p");
    details.className = "details";
    details.textContent = describe(m);
    const actions = document.createElement("div");
    actions.className = "actions";
    const open = (make) => () => {
      for (const old of item.querySelectorAll(".rename, .confirm")) old.remove();
      const added = make(item, m);
      item.append(added);
      const first = added.querySelector("input, button");
      if (first) first.focus();
    };
    actions.append(
      button("Rename", open(renameForm), "secondary"),
      button("Delete", open(confirmDelete), "secondary"),
    );
    item.append(title, details, actions);
    return item;
  }

  async function refresh() {
    const [listed, factors] = await Promise.all([
      me("/authentication-methods"),
      me("/factors"),
    ]);
    const methods = listed.authentication_methods || [];
    $("methods").replaceChildren(...methods.map(methodItem));
    $("no-methods").hidden = methods.length > 0;
    const add = $("add");
    add.replaceChildren();
    for (const f of factors) {
      add.append(button(ADD_LABELS[f.type] || f.type, action(() => startEnrolment(f.type))));
    }
  }

  // ------------------------------------------------------------------ enrolment

  const ENROL_PARTS = [
    "enrol-totp",
    "enrol-recovery",
    "enrol-email",
    "enrol-phone",
    "enrol-code",
    "enrol-confirm",
  ];

  function enrolPanel(title, parts) {
    $("enrol-title").textContent = title;
    for (const id of ENROL_PARTS) $(id).hidden = !parts.includes(id);
    $("enrol").hidden = false;
    $("enrol-title").focus();
  }

  function endEnrolment() {
    enrolment = null;
    $("enrol").hidden = true;
    const qr = $("enrol-qr");
    if (qr.src.startsWith("blob:")) URL.revokeObjectURL(qr.src);
    qr.removeAttribute("src");
    for (const id of ["enrol-key", "enrol-recovery-code"]) $(id).textContent = "";
    for (const id of ["enrol-code-input", "enrol-email-input", "enrol-phone-input"]) {
      $(id).value = "";
    }
  }

  async function showQr(uri) {
    const response = await fetch("/account/api/qr", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ uri }),
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) throw new Refused(response.status, await readJson(response));
    $("enrol-qr").src = URL.createObjectURL(await response.blob());
  }

  async function begin(body) {
    const started = await me("/authentication-methods", { body });
    enrolment = { id: started.id, type: body.type, auth_session: started.auth_session };
    return started;
  }

  async function startEnrolment(type) {
    endEnrolment();
    say("");
    const title = `Add: ${ADD_LABELS[type] || type}`;
    if (type === "passkey") return enrolPasskey();
    if (type === "email") return enrolPanel(title, ["enrol-email"]);
    if (type === "phone") return enrolPanel(title, ["enrol-phone"]);
    const started = await begin({ type });
    if (type === "totp" || type === "push-notification") {
      $("enrol-key").textContent = started.manual_input_code || "";
      await showQr(started.barcode_uri);
      $("enrol-confirm-button").textContent = "I have scanned it";
      enrolPanel(title, ["enrol-totp", type === "totp" ? "enrol-code" : "enrol-confirm"]);
      $("enrol-key").parentElement.hidden = !started.manual_input_code;
    } else if (type === "recovery-code") {
      $("enrol-recovery-code").textContent = started.recovery_code;
      $("enrol-confirm-button").textContent = "I have saved it";
      enrolPanel(title, ["enrol-recovery", "enrol-confirm"]);
    }
  }

  async function enrolPasskey() {
    needWebAuthn();
    const started = await begin({ type: "passkey" });
    say("Follow your browser's steps to create the passkey…");
    const credential = await navigator.credentials.create({
      publicKey: creationOptions(started.authn_params_public_key),
    });
    await finish({ authn_response: credentialJson(credential) });
  }

  async function finish(extra) {
    const { id, type, auth_session } = enrolment;
    await me(`/authentication-methods/${encodeURIComponent(id)}/verify`, {
      body: { auth_session, ...extra },
    });
    endEnrolment();
    say(`${LABELS[type] || type} added.`);
    await refresh();
  }

  const sendEmailCode = action(async () => {
    const email = $("enrol-email-input").value.trim();
    await begin(email ? { type: "email", email } : { type: "email" });
    say("A code is on its way.");
    enrolPanel($("enrol-title").textContent, ["enrol-code"]);
  });

  const sendPhoneCode = action(async () => {
    await begin({
      type: "phone",
      phone_number: $("enrol-phone-input").value.trim(),
      preferred_authentication_method: $("enrol-phone-method").value,
    });
    say("A code is on its way.");
    enrolPanel($("enrol-title").textContent, ["enrol-code"]);
  });

  const confirmCode = action(() => finish({ otp_code: $("enrol-code-input").value.trim() }));
  const confirmPlain = action(() => finish({}));

  // ------------------------------------------------------------------ wiring

  document.addEventListener("DOMContentLoaded", () => {
    $("password-form").addEventListener("submit", passwordSignIn);
    $("passkey-sign-in").addEventListener("click", passkeySignIn);
    $("factor-choice").addEventListener("submit", factorChosen);
    $("factor-code").addEventListener("submit", factorCode);
    $("factor-cancel").addEventListener("click", () => signOut("Sign-in cancelled."));
    $("sign-out").addEventListener("click", () => signOut("Signed out."));
    $("enrol-email").addEventListener("submit", sendEmailCode);
    $("enrol-phone").addEventListener("submit", sendPhoneCode);
    $("enrol-code").addEventListener("submit", confirmCode);
    $("enrol-confirm").addEventListener("submit", confirmPlain);
    $("enrol-cancel").addEventListener("click", () => {
      endEnrolment();
      say("Cancelled.");
    });
  });
})();
