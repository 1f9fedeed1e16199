// The test app: auth0-spa-js configured from /config.json (the test writes it), the outcome of
// each call shown on the page and kept on window.app for the test to read. Calls resolve to
// {error, error_description} instead of throwing, so a test reads a refusal like an answer.
'use strict';

const show = (id, value) => {
  document.getElementById(id).textContent =
    typeof value === 'string' ? value : JSON.stringify(value, null, 2);
};

const failure = (err) => ({
  error: err.error || err.name || 'error',
  error_description: err.error_description || err.message || String(err),
});

const app = {
  client: null,
  // Options for the next click on "Log in" / "Log in (popup)" (set by the test).
  loginOptions: {},
  lastError: null,

  async render() {
    const user = await app.client.getUser();
    show('user', user || '');
    show('claims', (await app.client.getIdTokenClaims()) || '');
    show('status', user ? `Signed in as ${user.email || user.sub}` : 'Signed out');
    return user || null;
  },

  async attempt(call) {
    try {
      const result = await call();
      app.lastError = null;
      show('error', '');
      return result;
    } catch (err) {
      app.lastError = failure(err);
      show('error', `${app.lastError.error}: ${app.lastError.error_description}`);
      return app.lastError;
    }
  },

  login(options) {
    return app.attempt(() => app.client.loginWithRedirect(options || app.loginOptions));
  },

  async popup(options) {
    const result = await app.attempt(() => app.client.loginWithPopup(options || app.loginOptions));
    await app.render();
    return result || null;
  },

  token(options) {
    return app.attempt(() => app.client.getTokenSilently({ detailedResponse: true, ...options }));
  },

  claims() {
    return app.client.getIdTokenClaims();
  },

  logout(options) {
    return app.attempt(() => app.client.logout(options));
  },

  async start() {
    const config = await (await fetch('/config.json', { cache: 'no-store' })).json();
    app.client = await auth0.createAuth0Client(config);
    const query = new URLSearchParams(window.location.search);
    if ((query.has('code') || query.has('error')) && query.has('state')) {
      await app.attempt(() => app.client.handleRedirectCallback());
      window.history.replaceState({}, document.title, '/');
    }
    return app.render();
  },
};

window.app = app;
app.ready = app.start().catch((err) => {
  app.lastError = failure(err);
  show('error', `${app.lastError.error}: ${app.lastError.error_description}`);
  show('status', 'Failed to start');
  return null;
});

document.getElementById('login').addEventListener('click', () => app.login());
document.getElementById('popup').addEventListener('click', () => app.popup());
document.getElementById('token').addEventListener('click', async () => {
  const answer = await app.token();
  if (answer && answer.access_token) show('status', 'Got a token');
});
document.getElementById('logout').addEventListener('click', () => app.logout());
