// @auth0/auth0-auth-js's passkey client (`authClient.passkey`) against a real Twofold, one
// step per run:
//
//   node passkeys.mjs STEP  <  {"domain": …, "clientId": …, "clientSecret": …, "args": {…}}
//
// prints what the step saw as one JSON document. The WebAuthn ceremony itself (what
// navigator.credentials.create() / get() would return) is computed by the Python test with its
// software authenticator and handed to the `token` step as `credential`. Every call is the SDK's
// public method of the version pinned in package.json; the token exchange runs through its
// discovery and openid-client, which checks the ID token before the SDK returns it.
import {
  AuthClient,
  PasskeyChallengeError,
  PasskeyGetTokenError,
  PasskeyRegisterError,
} from "@auth0/auth0-auth-js";

import { runStep } from "./step.mjs";

const SDK_ERRORS = [PasskeyRegisterError, PasskeyChallengeError, PasskeyGetTokenError];

// What a rejected call looked like to the SDK: its error class and code, the HTTP status and
// the OAuth error it parsed from the body.
function refusal(err) {
  if (!SDK_ERRORS.some((kind) => err instanceof kind)) {
    throw err;
  }
  return {
    refused: {
      error: err.name,
      code: err.code,
      statusCode: err.statusCode ?? null,
      message: err.message,
      cause: { error: err.cause?.error, error_description: err.cause?.error_description },
    },
  };
}

async function refused(call) {
  try {
    return { answered: await call() };
  } catch (err) {
    return refusal(err);
  }
}

function tokens(t) {
  return {
    accessToken: t.accessToken,
    idToken: t.idToken ?? null,
    refreshToken: t.refreshToken ?? null,
    tokenType: t.tokenType ?? null,
    scope: t.scope ?? null,
    expiresAt: t.expiresAt,
    claims: t.claims ?? null,
  };
}

const steps = {
  // The signup challenge: PublicKeyCredentialCreationOptions for a new user.
  async register(auth, { email, name, userMetadata }) {
    return refused(() => auth.passkey.register({ email, name, userMetadata }));
  },

  // The login challenge: PublicKeyCredentialRequestOptions (discoverable credentials).
  async challenge(auth) {
    return refused(() => auth.passkey.challenge());
  },

  // The WebAuthn grant: the session of either challenge and the serialised credential.
  async token(auth, { authSession, credential, scope, audience }) {
    const answer = await refused(() =>
      auth.passkey.getTokenByPasskey({ authSession, credential, scope, audience }),
    );
    return answer.answered ? { answered: tokens(answer.answered) } : answer;
  },

  // The refresh token a passkey login gave, used through the same client.
  async refresh(auth, { refreshToken }) {
    return tokens(await auth.getTokenByRefreshToken({ refreshToken }));
  },
};

await runStep(steps, (credentials) => new AuthClient(credentials));
