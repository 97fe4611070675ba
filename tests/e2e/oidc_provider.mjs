// A real OpenID provider for toolgate's authentication tests: the certified `oidc-provider`
// package, with two client-credentials clients and resource indicators (RFC 8707) on, so it
// issues RS256 JWT access tokens whose `aud` is toolgate's resource URL.
//
//   TOOLGATE_TEST_NODE_MODULES=target/e2e/node/node_modules node oidc_provider.mjs <resource-url>
//
// (the packages are resolved from that folder, where scripts/setup-test-deps.sh installs them).
// Listens on a free loopback port and prints one JSON line on stdout once ready:
//   {"issuer": "...", "forged": {...}}
// where `forged` holds tokens an attacker could produce (alg none, HS256 signed with the RSA
// public key, an unknown kid, and tokens signed with the provider's real key but expired, not
// yet valid, without exp, or for another audience or issuer), for the attack suite.
// `GET /test/jwks-fetches` answers how many times the JWKS was fetched.
//
// Clients: `full` / `full-secret` (granted `tools:read tools:call`), `reader` / `reader-secret`
// (granted `tools:read` only, whatever it asks for).

import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const modules = process.env.TOOLGATE_TEST_NODE_MODULES;
if (!modules) {
  console.error('set TOOLGATE_TEST_NODE_MODULES (scripts/setup-test-deps.sh prints it)');
  process.exit(2);
}
const require = createRequire(`${modules}/`);
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { default: Provider, errors } = await load('oidc-provider');
const jose = await load('jose');

const resource = process.argv[2];
if (!resource) {
  console.error('usage: node oidc_provider.mjs <resource-url>');
  process.exit(2);
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };

const SCOPES = ['tools:read', 'tools:call'];
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'full',
      client_secret: 'full-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: SCOPES.join(' '),
    },
    {
      // May ask for every scope (as MCP clients do, from toolgate's challenge) but is granted
      // `tools:read` only, for toolgate's resource (see getResourceServerInfo).
      client_id: 'reader',
      client_secret: 'reader-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: SCOPES.join(' '),
    },
  ],
  jwks: { keys: [signingJwk] },
  scopes: ['openid', ...SCOPES],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator, client) => {
        if (indicator !== resource) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: client.clientId === 'reader' ? 'tools:read' : SCOPES.join(' '),
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});
provider.on('server_error', (ctx, err) => console.error('oidc-provider error:', err));

let jwksFetches = 0;
const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/test/jwks-fetches') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ fetches: jwksFetches }));
    return;
  }
  if (req.url.startsWith('/jwks')) {
    jwksFetches += 1;
  }
  callback(req, res);
});

// --- forged tokens ---------------------------------------------------------------------
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({
  iss: issuer,
  sub: 'mallory',
  aud: resource,
  iat: now,
  exp: now + 600,
  scope: SCOPES.join(' '),
  client_id: 'full',
  ...extra,
});
const signed = (payload, kid = 'k1') =>
  new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' }).sign(privateKey);

const publicPem = crypto
  .createPublicKey({ key: signingJwk, format: 'jwk' })
  .export({ type: 'spki', format: 'pem' });
const hsHeader = b64({ alg: 'HS256', kid: 'k1', typ: 'at+jwt' });
const hsBody = b64(claims());
const hsSignature = crypto
  .createHmac('sha256', publicPem)
  .update(`${hsHeader}.${hsBody}`)
  .digest('base64url');
const { privateKey: strangerKey } = await jose.generateKeyPair('RS256');
const { exp: _drop, ...withoutExp } = claims();

const forged = {
  alg_none: `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims())}.`,
  hs_rs_confusion: `${hsHeader}.${hsBody}.${hsSignature}`,
  unknown_kid: await new jose.SignJWT(claims())
    .setProtectedHeader({ alg: 'RS256', kid: 'not-in-jwks' })
    .sign(strangerKey),
  key_not_in_jwks: await new jose.SignJWT(claims())
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .sign(strangerKey),
  expired: await signed(claims({ iat: now - 3600, exp: now - 1800 })),
  not_yet_valid: await signed(claims({ nbf: now + 3600 })),
  missing_exp: await signed(withoutExp),
  wrong_aud: await signed(claims({ aud: 'https://another.example/mcp' })),
  wrong_iss: await signed(claims({ iss: 'https://evil.example' })),
  malformed: 'not.a.jwt',
  huge: `${b64({ alg: 'RS256', kid: 'k1' })}.${'A'.repeat(16 * 1024)}.sig`,
};

process.stdout.write(`${JSON.stringify({ issuer, forged })}\n`);
