// node-auth0's ManagementClient against a real Twofold, one step per run:
//
//   node management.mjs STEP  <  {"domain": …, "clientId": …, "clientSecret": …, "args": {…}}
//
// prints what the step saw as one JSON document. The Python test (test_e2e_node_management.py)
// runs the steps in order and logs the user in between them. The client fetches its own token
// (client_credentials for https://{domain}/api/v2/), as an application would. Every call is the
// SDK's public method of the version pinned in package.json.
import { ManagementClient, ManagementError } from "auth0";

import { runStep } from "./step.mjs";

// What a rejected call looked like to the SDK: its error class, the status and the parsed body.
function refusal(err) {
  if (!(err instanceof ManagementError)) {
    throw err;
  }
  return { error: err.constructor.name, statusCode: err.statusCode, body: err.body };
}

async function refused(call) {
  try {
    return { answered: await call() };
  } catch (err) {
    return refusal(err);
  }
}

async function allItems(pager) {
  const items = [];
  for await (const item of pager) {
    items.push(item);
  }
  return items;
}

const steps = {
  async create(m, { connection, email, password }) {
    return m.users.create({ connection, email, password, email_verified: true });
  },

  async find(m, { email, user_id }) {
    const search = await m.users.list({ q: `email:"${email}"`, search_engine: "v3" });
    return {
      byEmail: await m.users.listUsersByEmail({ email }),
      search: search.data,
      searchTotal: search.response.total,
      get: await m.users.get(user_id),
      only: await m.users.get(user_id, { fields: "user_id,email", include_fields: true }),
      without: await m.users.listUsersByEmail({
        email,
        fields: "identities,app_metadata",
        include_fields: false,
      }),
    };
  },

  async page(m, { per_page }) {
    let page = await m.users.list({ per_page, page: 0 });
    const pages = [page.data.map((u) => u.user_id)];
    const total = page.response.total;
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      pages.push(page.data.map((u) => u.user_id));
    }
    const iterated = await allItems(await m.users.list({ per_page }));
    return { pages, total, iterated: iterated.map((u) => u.user_id) };
  },

  async importTotp(m, { user_id, secret }) {
    return m.users.authenticationMethods.create(user_id, {
      type: "totp",
      totp_secret: secret,
      name: "imported from node",
    });
  },

  async methods(m, { user_id }) {
    const methods = await allItems(await m.users.authenticationMethods.list(user_id));
    return {
      methods,
      first: methods.length
        ? await m.users.authenticationMethods.get(user_id, methods[0].id)
        : null,
      enrollments: await m.users.enrollments.get(user_id),
    };
  },

  async recoveryCode(m, { user_id }) {
    return m.users.regenerateRecoveryCode(user_id);
  },

  async resetMfa(m, { user_id }) {
    await m.users.authenticators.deleteAll(user_id);
    return { methods: await allItems(await m.users.authenticationMethods.list(user_id)) };
  },

  async forgetBrowsers(m, { user_id }) {
    const result = await m.users.multifactor.invalidateRememberBrowser(user_id);
    const unknown = await refused(() =>
      m.users.multifactor.invalidateRememberBrowser("auth0|nobody"),
    );
    return { result: result ?? null, unknown };
  },

  async logs(m, { user_id }) {
    const mine = await allItems(await m.users.logs.list(user_id, { per_page: 5, sort: "date:1" }));
    const recent = await m.logs.list({
      per_page: 3,
      search: `user_id:"${user_id}"`,
      fields: "log_id,type,user_id",
      include_fields: true,
    });
    return { mine, recent: recent.data };
  },

  async block(m, { user_id }) {
    return m.users.update(user_id, { blocked: true });
  },

  async delete(m, { user_id }) {
    await m.users.delete(user_id);
    return { after: await refused(() => m.users.get(user_id)) };
  },

  async forbidden(m, { user_id }) {
    return {
      read: await refused(() => m.users.get(user_id)),
      delete: await refused(() => m.users.delete(user_id)),
    };
  },
};

// No retries: a 429 or 5xx must reach the test instead of being retried away.
await runStep(
  steps,
  (credentials) => new ManagementClient({ ...credentials, maxRetries: 0, timeoutInSeconds: 10 }),
);
