// A real OpenID provider (npm `oidc-provider` v8) for the OAuth broker tests.
//
//   node oidc_server.mjs PORT [LISTEN_ADDRESS]
// Environment: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (space separated).
// Prints "ready ISSUER" on stdout once it listens on LISTEN_ADDRESS:PORT (default 127.0.0.1);
// the issuer is always http://127.0.0.1:PORT.
//
// PKCE (S256) is required for every client, refresh tokens are issued and rotated on every
// use, revocation (RFC 7009) is on, and the authorization response carries `iss` (RFC 9207).
// The login and consent interaction completes itself so tests can drive the whole
// authorization code flow over plain HTTP. `login_hint` steers it:
//   deny         the person declines: the provider answers error=access_denied
//   expire-code  the authorization code lives one second
//   grant:A,B    the person grants only scopes A and B (plus openid)
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const listenAddress = process.argv[3] || '127.0.0.1';
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.OIDC_CLIENT_ID;
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const redirectUris = (process.env.OIDC_REDIRECT_URIS || '').split(' ').filter(Boolean);
if (!port || !clientId || !clientSecret || redirectUris.length === 0) {
  console.error('usage: OIDC_CLIENT_ID=.. OIDC_CLIENT_SECRET=.. OIDC_REDIRECT_URIS=.. node oidc_server.mjs PORT');
  process.exit(2);
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

// Stand-ins for two Google APIs and Microsoft Graph's calendar view (under /fake/...), so
// connected-app tools run end to end
// with tokens this provider issued: a revoked or expired token gets 401, a missing scope 403.
const CALENDAR_SCOPE = 'https://www.googleapis.com/auth/calendar.events.readonly';
const GMAIL_SCOPE = 'https://www.googleapis.com/auth/gmail.send';
const GRAPH_CALENDAR_SCOPE = 'Calendars.Read';

function hintOf(ctx) {
  const hint = ctx?.oidc?.params?.login_hint;
  return typeof hint === 'string' ? hint : '';
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'calendar.read', 'mail.send',
    CALENDAR_SCOPE, GMAIL_SCOPE, GRAPH_CALENDAR_SCOPE],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@example.test`, email_verified: true, name: id }),
  }),
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 600,
    AuthorizationCode: (ctx) => (hintOf(ctx) === 'expire-code' ? 1 : 60),
    IdToken: 600,
    RefreshToken: 86400,
    Interaction: 600,
    Session: 3600,
    Grant: 86400,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
// Behind no proxy; http on loopback is what the tests use.
provider.proxy = false;

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  const hint = typeof params.login_hint === 'string' ? params.login_hint : '';
  let result;
  if (hint === 'deny') {
    result = { error: 'access_denied', error_description: 'the person declined' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: 'alice' } };
  } else {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details.missingOIDCScope || [];
    const allowed = hint.startsWith('grant:') ? new Set(['openid', ...hint.slice(6).split(',')]) : null;
    const granted = missing.filter((s) => !allowed || allowed.has(s));
    const declined = missing.filter((s) => allowed && !allowed.has(s));
    if (granted.length) grant.addOIDCScope(granted.join(' '));
    if (declined.length) grant.rejectOIDCScope(declined.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function fakeApi(req, res) {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const auth = req.headers.authorization || '';
  const token = auth.startsWith('Bearer ') ? await provider.AccessToken.find(auth.slice(7)) : undefined;
  if (!token || token.isExpired) return send(401, { error: 'invalid_token' });
  const scopes = new Set((token.scope || '').split(' '));
  const url = new URL(req.url, issuer);
  if (req.method === 'GET' && url.pathname.startsWith('/fake/googleapis/calendar/v3/calendars/')) {
    if (!scopes.has(CALENDAR_SCOPE)) return send(403, { error: 'insufficient_scope' });
    const calendar = decodeURIComponent(url.pathname.split('/')[6]);
    return send(200, { calendar, timeMin: url.searchParams.get('timeMin'), items: [{ summary: 'Standup' }] });
  }
  if (req.method === 'POST' && url.pathname === '/fake/gmail/gmail/v1/users/me/messages/send') {
    if (!scopes.has(GMAIL_SCOPE)) return send(403, { error: 'insufficient_scope' });
    let body = '';
    for await (const chunk of req) body += chunk;
    const raw = Buffer.from(JSON.parse(body).raw, 'base64url').toString();
    return send(200, { id: 'message-1', to: /^To: (.*)$/m.exec(raw)?.[1] });
  }
  if (req.method === 'GET' && url.pathname === '/fake/graph/v1.0/me/calendarView') {
    if (!scopes.has(GRAPH_CALENDAR_SCOPE)) return send(403, { error: 'insufficient_scope' });
    return send(200, { window: [url.searchParams.get('startDateTime'), url.searchParams.get('endDateTime')],
      select: url.searchParams.get('$select'), value: [{ subject: 'Planning' }] });
  }
  return send(404, { error: 'not_found' });
}

const handler = provider.callback();
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err && err.message));
    });
    return;
  }
  if (req.url.startsWith('/fake/')) {
    fakeApi(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err && err.message));
    });
    return;
  }
  handler(req, res);
});
server.listen(port, listenAddress, () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
