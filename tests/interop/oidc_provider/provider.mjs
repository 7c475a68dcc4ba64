// A real OpenID provider for the bot's interoperability tests: panva's oidc-provider (OpenID Certified).
//
// Listens on 127.0.0.1 (a free port), then prints one JSON line {"issuer": "http://127.0.0.1:PORT"} on stdout.
// - Clients register themselves (RFC 7591 dynamic registration at /reg), so a test can name its own redirect URI
//   and ID token algorithm (RS256, ES256 or Ed25519: the provider holds one key of each type).
// - Sign-in is oidc-provider's development interactions: a login form (any login, any password; the login is the
//   subject) and a consent form, both plain HTML forms that a cookie-aware HTTP client can submit.
// - The `email` scope's claims are released from the userinfo endpoint only (oidc-provider's default for the code
//   flow), and the authorization response carries `iss` (RFC 9207).
// - POST /__test__/rotate-keys replaces every signing key with new ones (new kids); only those are published
//   (oidc-provider's keys are fixed per instance, so this starts a new instance over the same storage).
// Stops on SIGTERM or when stdin closes (the test process went away).
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

const ROTATE_PATH = '/__test__/rotate-keys';
// One store for every Provider instance: registered clients and sessions survive a key rotation.
const adapter = createMemoryAdapter();
const cookieKeys = [randomBytes(32).toString('hex')];

function signingKeys() {
  const make = (type, options) => {
    const { privateKey } = generateKeyPairSync(type, options);
    return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig' };
  };
  return [make('rsa', { modulusLength: 2048 }), make('ec', { namedCurve: 'P-256' }), make('ed25519')];
}

function claimsOf(accountId) {
  const local = accountId.replace(/[^A-Za-z0-9._-]/g, '_');
  return { sub: accountId, email: `${local}@example.test`, email_verified: true };
}

function newProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    adapter,
    jwks: { keys },
    async findAccount(_ctx, accountId) {
      return { accountId, async claims() { return claimsOf(accountId); } };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    cookies: { keys: cookieKeys },
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256', 'Ed25519'] },
  });
  return provider.callback();
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  let handle = newProvider(issuer, signingKeys());
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url === ROTATE_PATH) {
      const keys = signingKeys();
      handle = newProvider(issuer, keys);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kids: keys.map((key) => key.kid) }));
      return;
    }
    handle(req, res);
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
