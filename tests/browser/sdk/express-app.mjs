// The server-side test app: express-openid-connect's `auth()` in front of two pages, served over
// HTTPS on the app host. Its configuration comes as JSON on stdin (secrets stay off the command
// line): {port, cert, key, auth: <express-openid-connect's options>}. It prints one JSON line
// {"listening": port} once it accepts connections.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import express from 'express';
import openid from 'express-openid-connect';

const { auth, requiresAuth } = openid;

const input = JSON.parse(readFileSync(0, 'utf8'));
const app = express();

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>${body}
<p><a id="login" href="/login">Log in</a> <a id="profile" href="/profile">Profile</a>
<a id="logout" href="/logout">Log out</a></p></body></html>`;

// Outside auth(), so readiness checks never start a silent login.
app.get('/healthz', (req, res) => res.type('text/plain').send('ok'));

app.use(auth({ authRequired: false, ...input.auth }));

app.get('/', (req, res) => {
  const user = req.oidc.user || null;
  res.send(
    page(
      'Example app (express-openid-connect)',
      `<p id="status">${user ? 'Signed in' : 'Signed out'}</p>` +
        `<pre id="user">${user ? escape(JSON.stringify(user, null, 2)) : ''}</pre>`,
    ),
  );
});

app.get('/profile', requiresAuth(), (req, res) => {
  const claims = req.oidc.idTokenClaims;
  res.send(
    page(
      'Profile',
      `<p id="status">Signed in</p><pre id="claims">${escape(JSON.stringify(claims, null, 2))}</pre>`,
    ),
  );
});

// Whatever express-openid-connect refuses (a bad callback, an error from the authorization
// server) is shown, never hidden, so a test can read it.
app.use((err, req, res, next) => {
  res
    .status(err.status || 500)
    .send(page('Error', `<p id="error" role="alert">${escape(err.message)}</p>`));
});

const server = https.createServer(
  { cert: readFileSync(input.cert), key: readFileSync(input.key) },
  app,
);
server.listen(input.port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: input.port })}\n`);
});
