// Drives a running qrlogin with node's openid-client v6, a relying party
// nobody here wrote and the strictest in common use: it checks the issuer,
// audience, nonce, state, PKCE and, with enableNonRepudiationChecks, the ID
// token's signature against /keys.
//
// The hosted login page is driven over HTTP as a browser would: a cookie
// jar, manual redirects, the form's hidden fields. The QR of the device
// flow is approved through the phone API (/qr/scan, /qr/confirm) with a
// phone token the caller provides.
//
// One line per flow, "PASS <flow>: <detail>" or "FAIL <flow>: <detail>";
// the exit status is 1 if any flow failed. idp/interop_test.go runs it
// with this environment:
//
//   QRLOGIN_ISSUER                  the issuer URL
//   QRLOGIN_RP_ID, QRLOGIN_RP_SECRET, QRLOGIN_RP_REDIRECT, QRLOGIN_RP_POST_LOGOUT
//                                   a confidential client (client_secret_basic)
//   QRLOGIN_RP2_ID, QRLOGIN_RP2_SECRET, QRLOGIN_RP2_REDIRECT
//                                   a second one (client_secret_post)
//   QRLOGIN_USERNAME, QRLOGIN_PASSWORD, QRLOGIN_SUB
//                                   a user, and the sub of their tokens
//   QRLOGIN_PHONE_TOKEN             that user's phone app access token (qr:approve)
//   QRLOGIN_ID_TOKEN_ALG            the server's ID token algorithm (RS256, ES256)
import { createHash } from 'node:crypto';
import * as client from 'openid-client';

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.log(`FAIL setup: ${k} is not set`);
    process.exit(2);
  }
  return v;
};
const issuer = new URL(env('QRLOGIN_ISSUER'));
const rp = { id: env('QRLOGIN_RP_ID'), secret: env('QRLOGIN_RP_SECRET'), redirect: env('QRLOGIN_RP_REDIRECT'),
  postLogout: env('QRLOGIN_RP_POST_LOGOUT') };
const rp2 = { id: env('QRLOGIN_RP2_ID'), secret: env('QRLOGIN_RP2_SECRET'), redirect: env('QRLOGIN_RP2_REDIRECT') };
const user = { name: env('QRLOGIN_USERNAME'), password: env('QRLOGIN_PASSWORD'), sub: env('QRLOGIN_SUB') };
const phoneToken = env('QRLOGIN_PHONE_TOKEN');
const idTokenAlg = env('QRLOGIN_ID_TOKEN_ALG');

// --- the flows' harness ----------------------------------------------------

let failures = 0;
const state = {}; // what earlier flows produced, for later ones

class Check extends Error {}
function check(cond, msg) {
  if (!cond) throw new Check(msg);
}

// flow runs fn and prints its line; fn returns the PASS detail. needs
// names what it takes from earlier flows: if one of them failed, this one
// fails saying so rather than with a confusing error.
async function flow(name, needs, fn) {
  const missing = needs.filter((k) => state[k] === undefined);
  if (missing.length) {
    failures++;
    console.log(`FAIL ${name}: not run, needs ${missing.join(', ')} from an earlier flow`);
    return;
  }
  try {
    console.log(`PASS ${name}: ${await fn()}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${await describe(e)}`);
  }
}

// describe renders an error with what openid-client knows of the answer
// that caused it: status, WWW-Authenticate and body, for the report.
async function describe(e) {
  if (e instanceof Check) return e.message;
  const parts = [`${e.name}${e.code ? ` ${e.code}` : ''}: ${e.message}`];
  if (e.error) parts.push(`error=${e.error}${e.error_description ? ` (${e.error_description})` : ''}`);
  const res = e.response ?? (e.cause instanceof Response ? e.cause : undefined);
  if (res) {
    parts.push(`HTTP ${res.status}`, `WWW-Authenticate: ${res.headers.get('www-authenticate') ?? '(none)'}`);
    if (!res.bodyUsed) parts.push(`body ${snippet(await res.text())}`);
  }
  if (e.cause instanceof URLSearchParams) parts.push(`parameters ${e.cause}`);
  else if (e.cause !== undefined && !(e.cause instanceof Response)) parts.push(`cause ${JSON.stringify(e.cause)}`);
  return parts.join('; ');
}

// --- a browser: a cookie jar for the issuer, redirects followed by hand ---

class Browser {
  cookies = new Map();

  async fetch(url, init = {}) {
    const u = new URL(url);
    check(u.origin === issuer.origin, `the browser was sent to ${u.origin}, not the issuer`);
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-)/i.test(a)) ||
        attrs.some((a) => /^\s*expires\s*=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(i + 1).trim());
    }
    return res;
  }

  // navigate follows redirects from url until one leaves the issuer for a
  // URL starting with one of stopAt (a relying party's callback: returned,
  // never fetched), or until a page is shown.
  async navigate(url, stopAt, init = {}) {
    let res = await this.fetch(url, init);
    let at = new URL(url);
    for (let hops = 0; ; hops++) {
      if (res.status < 300 || res.status > 399) {
        return { page: await res.text(), status: res.status, url: at };
      }
      check(hops < 10, `more than 10 redirects from ${url}`);
      const next = new URL(res.headers.get('location'), at);
      if (stopAt.some((p) => next.href.startsWith(p))) return { callback: next };
      at = next;
      res = await this.fetch(next);
    }
  }

  // signIn fills in the password form of the page navigate stopped at and
  // submits it with its hidden fields, then follows the redirects.
  async signIn(shown, stopAt) {
    const form = shown.page !== undefined && findForm(shown.page, (f) => /type="password"/i.test(f));
    check(form, `no password form: ${landed(shown)}`);
    form.fields.set('username', user.name);
    form.fields.set('password', user.password);
    return this.submit(shown, form, stopAt);
  }

  // press presses the submit button labelled label on the page navigate
  // stopped at, as a user would, then follows the redirects.
  async press(shown, label, stopAt) {
    const form = shown.page !== undefined && findForm(shown.page, (f) => buttons(f).some((b) => b.label === label));
    check(form, `no "${label}" button: ${landed(shown)}`);
    const button = buttons(form.html).find((b) => b.label === label);
    if (button.name) form.fields.set(button.name, button.value ?? '');
    return this.submit(shown, form, stopAt);
  }

  submit(shown, form, stopAt) {
    return this.navigate(new URL(form.action, shown.url), stopAt, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams([...form.fields]).toString(),
    });
  }
}

// findForm finds the first form whose inner HTML satisfies match, with
// its action and hidden inputs (request ids, the CSRF token).
function findForm(html, match) {
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    if (!match(m[2])) continue;
    const fields = new Map();
    for (const input of m[2].matchAll(/<input\b[^>]*>/gi)) {
      if (attr(input[0], 'type') === 'hidden') fields.set(attr(input[0], 'name'), attr(input[0], 'value') ?? '');
    }
    return { action: attr(m[1], 'action') ?? '', fields, html: m[2] };
  }
  return null;
}

// buttons lists a form's submit buttons: their label, name and value.
function buttons(formHTML) {
  return [...formHTML.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)]
    .filter((m) => (attr(m[1], 'type') ?? 'submit') === 'submit')
    .map((m) => ({ label: m[2].replace(/<[^>]*>/g, '').trim(), name: attr(m[1], 'name'), value: attr(m[1], 'value') }));
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`, 'i'));
  if (!m) return undefined;
  return m[1].replace(/&#(\d+);/g, (_, n) => String.fromCharCode(n)).replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// landed describes where navigate ended: a redirect to a client, or a page.
function landed(r) {
  return r.callback ? `a redirect to ${r.callback}` : `HTTP ${r.status} at ${r.url.pathname}: ${snippet(r.page)}`;
}

// snippet is the start of a body, a page's visible text without its head.
function snippet(text) {
  const visible = text.replace(/<head[\s\S]*?<\/head>/i, '').replace(/<(script|style)[\s\S]*?<\/\1>/gi, '').replace(/<[^>]*>/g, ' ');
  return JSON.stringify(visible.replace(/\s+/g, ' ').trim().slice(0, 300));
}

// atHash is OIDC Core §3.1.3.6's at_hash for an RS256/ES256 token.
function atHash(accessToken) {
  return createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
}

// phone calls the phone API as the signed-in phone app.
async function phone(path, body) {
  const res = await fetch(new URL(path, issuer), {
    method: 'POST',
    headers: { authorization: `Bearer ${phoneToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  check(res.status === 200, `POST ${path}: HTTP ${res.status} ${snippet(text)}`);
  return JSON.parse(text);
}

// codeRequest starts a code flow with PKCE for config and browser; it
// returns what authorizationCodeGrant will check.
async function codeRequest(config, redirect, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier: verifier, expectedState: client.randomState(), expectedNonce: client.randomNonce(), idTokenExpected: true };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirect, scope: 'openid profile email offline_access', state: checks.expectedState,
    nonce: checks.expectedNonce, code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', ...extra,
  });
  return { url, checks };
}

// verified checks what openid-client leaves to the caller: who signed in,
// how, and at_hash (openid-client verifies at_hash only for hybrid flows).
function verified(tokens, { amr }) {
  const claims = tokens.claims();
  check(claims.sub === user.sub, `ID token sub ${claims.sub}, want ${user.sub}`);
  check(Array.isArray(claims.amr) && claims.amr.includes(amr), `ID token amr ${JSON.stringify(claims.amr)}, want ${amr}`);
  check(typeof claims.auth_time === 'number', `ID token has no auth_time: ${JSON.stringify(claims)}`);
  check(claims.at_hash === atHash(tokens.access_token), `at_hash ${claims.at_hash}, want ${atHash(tokens.access_token)}`);
  check(tokens.refresh_token, 'no refresh token for offline_access');
  return claims;
}

async function discover(c, auth) {
  // allowInsecureRequests: the test server is plain http on loopback.
  // The algorithm is pinned as a registered client's would be: a token
  // signed with another one is refused, whatever discovery lists.
  const config = await client.discovery(issuer, c.id, { id_token_signed_response_alg: idTokenAlg }, auth(c.secret),
    { execute: [client.allowInsecureRequests] });
  // Verify ID token signatures against /keys too, not only the claims.
  client.enableNonRepudiationChecks(config);
  return config;
}

// --- the flows -------------------------------------------------------------

await flow('discovery', [], async () => {
  state.rp = await discover(rp, client.ClientSecretBasic);
  state.rp2 = await discover(rp2, client.ClientSecretPost);
  const m = state.rp.serverMetadata();
  check(m.issuer === issuer.href.replace(/\/$/, ''), `issuer ${m.issuer}`);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'device_authorization_endpoint',
    'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
    check(typeof m[k] === 'string', `metadata lacks ${k}`);
  }
  check(m.code_challenge_methods_supported?.includes('S256'), 'S256 is not advertised');
  check(m.id_token_signing_alg_values_supported?.includes(idTokenAlg), `${idTokenAlg} is not advertised: ${m.id_token_signing_alg_values_supported}`);
  return `issuer ${m.issuer}, ${Object.keys(m).length} metadata fields, ID tokens ${idTokenAlg}`;
});

await flow('discovery (RFC 8414 authorization server metadata)', ['rp'], async () => {
  const config = await client.discovery(issuer, rp.id, { id_token_signed_response_alg: idTokenAlg }, client.ClientSecretBasic(rp.secret),
    { algorithm: 'oauth2', execute: [client.allowInsecureRequests] });
  const m = config.serverMetadata();
  const oidc = state.rp.serverMetadata();
  // One provider, two documents: what both name must agree.
  const differ = Object.keys(m).filter((k) => k in oidc && JSON.stringify(m[k]) !== JSON.stringify(oidc[k]));
  check(differ.length === 0, `the RFC 8414 and OpenID documents disagree on ${differ.join(', ')}`);
  check(m.token_endpoint && m.device_authorization_endpoint, `RFC 8414 metadata lacks endpoints: ${JSON.stringify(m)}`);
  return `/.well-known/oauth-authorization-server: ${Object.keys(m).length} fields, none contradicting the OpenID document`;
});

await flow('device flow (QR approved on the phone)', ['rp'], async () => {
  const nonce = client.randomNonce();
  const da = await client.initiateDeviceAuthorization(state.rp, { scope: 'openid profile email offline_access', nonce });
  check(da.verification_uri_complete && da.user_code && da.device_code, `device authorization answer: ${JSON.stringify(da)}`);
  // The PC polls while the phone scans the QR and confirms. If the phone's
  // part fails, the abort stops the polling rather than leave it running
  // until the QR expires.
  const abort = new AbortController();
  const polling = client.pollDeviceAuthorizationGrant(state.rp, da, undefined, { signal: abort.signal });
  polling.catch(() => {});
  let tokens;
  try {
    const scan = await phone('/qr/scan', { qr: da.verification_uri_complete });
    check(scan.user_code === da.user_code, `the phone shows user_code ${scan.user_code}, the PC ${da.user_code}`);
    check(scan.client?.client_id === rp.id, `the phone is told client ${JSON.stringify(scan.client)}`);
    const confirmed = await phone('/qr/confirm', { ticket: scan.ticket });
    check(confirmed.status === 'confirmed', `confirm: ${JSON.stringify(confirmed)}`);
    tokens = await polling;
  } finally {
    abort.abort();
  }
  const claims = verified(tokens, { amr: 'qr' });
  check(claims.nonce === nonce, `nonce ${claims.nonce}, want ${nonce}`);
  return `user_code ${da.user_code} shown on the phone, sub ${claims.sub}, amr ${claims.amr}, nonce/at_hash/signature checked`;
});

// The QR login bound to the PC's DPoP key with dpop_jkt: the device code
// alone, polled by anyone without the key, is refused.
await flow('DPoP: device flow (QR) bound with dpop_jkt', ['rp'], async () => {
  const DPoP = client.getDPoPHandle(state.rp, await client.randomDPoPKeyPair('ES256'));
  const jkt = await DPoP.calculateThumbprint();
  const da = await client.initiateDeviceAuthorization(state.rp, { scope: 'openid profile email offline_access', dpop_jkt: jkt });
  const stolen = () => client.genericGrantRequest(state.rp, 'urn:ietf:params:oauth:grant-type:device_code',
    { device_code: da.device_code }).then(() => null, (e) => e);
  let e = await stolen();
  check(e instanceof client.ResponseBodyError && e.error === 'invalid_dpop_proof', `the device code without the key, pending: ${e ? await describe(e) : 'tokens'}`);
  const abort = new AbortController();
  const polling = client.pollDeviceAuthorizationGrant(state.rp, da, undefined, { DPoP, signal: abort.signal });
  polling.catch(() => {});
  let tokens;
  try {
    const scan = await phone('/qr/scan', { qr: da.verification_uri_complete });
    await phone('/qr/confirm', { ticket: scan.ticket });
    e = await stolen();
    check(e instanceof client.ResponseBodyError && e.error === 'invalid_dpop_proof', `the device code without the key, confirmed: ${e ? await describe(e) : 'tokens'}`);
    tokens = await polling;
  } finally {
    abort.abort();
  }
  check(tokens.token_type === 'dpop', `token_type ${tokens.token_type}, want dpop`);
  verified(tokens, { amr: 'qr' });
  const info = await client.fetchUserInfo(state.rp, tokens.access_token, user.sub, { DPoP });
  check(info.sub === user.sub, `userinfo sub ${info.sub}`);
  return `jkt ${jkt}: the device code without the key refused (invalid_dpop_proof) before and after the confirmation; token_type dpop, userinfo with a proof`;
});

await flow('authorization code + PKCE (hosted login form)', ['rp'], async () => {
  const browser = new Browser();
  const { url, checks } = await codeRequest(state.rp, rp.redirect);
  const shown = await browser.navigate(url, [rp.redirect]);
  check(!shown.callback, `a code before any sign-in: ${shown.callback}`);
  const done = await browser.signIn(shown, [rp.redirect]);
  check(done.callback, `after signing in: ${landed(done)}, not a redirect to the client`);
  const tokens = await client.authorizationCodeGrant(state.rp, done.callback, { ...checks, maxAge: 600 });
  const claims = verified(tokens, { amr: 'pwd' });
  Object.assign(state, { browser, tokens, authTime: claims.auth_time, idToken: tokens.id_token });
  return `sub ${claims.sub}, amr ${claims.amr}, auth_time ${claims.auth_time}, nonce/state/PKCE/at_hash checked`;
});

await flow('single sign-on (a second client, no form)', ['rp2', 'browser'], async () => {
  const { url, checks } = await codeRequest(state.rp2, rp2.redirect);
  const r = await state.browser.navigate(url, [rp2.redirect]);
  check(r.callback, `the browser signed in for ${rp.id} got ${landed(r)}, not a code`);
  const tokens = await client.authorizationCodeGrant(state.rp2, r.callback, { ...checks, maxAge: 600 });
  const claims = verified(tokens, { amr: 'pwd' });
  // OIDC Core §2: auth_time is when the user signed in, not this request.
  check(claims.auth_time === state.authTime, `auth_time ${claims.auth_time}, want the sign-in's ${state.authTime}`);
  return `${rp2.id} got a code at once for sub ${claims.sub}, auth_time ${claims.auth_time} (the sign-in's)`;
});

await flow('prompt=none', ['rp', 'browser'], async () => {
  // With a session: a code, no page.
  const signedIn = await codeRequest(state.rp, rp.redirect, { prompt: 'none' });
  const r = await state.browser.navigate(signedIn.url, [rp.redirect]);
  check(r.callback, `with a session: ${landed(r)}, not a code`);
  const tokens = await client.authorizationCodeGrant(state.rp, r.callback, signedIn.checks);
  check(tokens.claims().sub === user.sub, `sub ${tokens.claims().sub}`);
  // Without one: login_required back at the client, with its state
  // (OIDC Core §3.1.2.6); openid-client checks the state first.
  const anonymous = await codeRequest(state.rp, rp.redirect, { prompt: 'none' });
  const a = await new Browser().navigate(anonymous.url, [rp.redirect]);
  check(a.callback, `without a session: ${landed(a)}, not a redirect to the client`);
  const err = await client.authorizationCodeGrant(state.rp, a.callback, anonymous.checks).then(() => null, (e) => e);
  check(err instanceof client.AuthorizationResponseError && err.error === 'login_required',
    `without a session: ${err ? await describe(err) : 'a code'} (${a.callback})`);
  return 'a code with the session, no page; error=login_required with state without one';
});

await flow('refresh', ['tokens'], async () => {
  const refreshed = await client.refreshTokenGrant(state.rp, state.tokens.refresh_token);
  check(refreshed.access_token && refreshed.access_token !== state.tokens.access_token, 'no new access token');
  check(refreshed.refresh_token && refreshed.refresh_token !== state.tokens.refresh_token, 'the refresh token was not rotated');
  let detail = 'new access token, refresh token rotated';
  if (refreshed.id_token) {
    // OIDC Core §12.2: same iss, sub, aud; auth_time unchanged.
    const c = refreshed.claims();
    check(c.sub === user.sub && c.auth_time === state.authTime, `refreshed ID token sub ${c.sub} auth_time ${c.auth_time}, want ${user.sub} ${state.authTime}`);
    detail += ', ID token with the same sub and auth_time';
  }
  state.tokens = refreshed;
  return detail;
});

await flow('userinfo', ['tokens'], async () => {
  const info = await client.fetchUserInfo(state.rp, state.tokens.access_token, user.sub);
  check(info.email && info.name, `userinfo lacks email or name: ${JSON.stringify(info)}`);
  return `sub ${info.sub}, name ${JSON.stringify(info.name)}, email ${info.email}`;
});

// DPoP (RFC 9449) as openid-client does it: a key pair of its own, a
// proof on every request, the code bound with dpop_jkt (§10).
await flow('DPoP: authorization code bound with dpop_jkt, userinfo, refresh, introspection', ['rp', 'browser'], async () => {
  const DPoP = client.getDPoPHandle(state.rp, await client.randomDPoPKeyPair('ES256'));
  const jkt = await DPoP.calculateThumbprint();
  check(state.rp.serverMetadata().dpop_signing_alg_values_supported?.includes('ES256'), 'dpop_signing_alg_values_supported lacks ES256');
  const { url, checks } = await codeRequest(state.rp, rp.redirect, { dpop_jkt: jkt });
  const r = await state.browser.navigate(url, [rp.redirect]);
  check(r.callback, `single sign-on with dpop_jkt: ${landed(r)}, not a code`);
  const tokens = await client.authorizationCodeGrant(state.rp, r.callback, checks, undefined, { DPoP });
  check(tokens.token_type === 'dpop', `token_type ${tokens.token_type}, want dpop`);
  verified(tokens, { amr: 'pwd' });
  const info = await client.fetchUserInfo(state.rp, tokens.access_token, user.sub, { DPoP });
  check(info.sub === user.sub, `userinfo sub ${info.sub}`);
  // The bound token as a bearer token: refused with a DPoP challenge.
  const bearer = await client.fetchUserInfo(state.rp, tokens.access_token, user.sub).then(() => null, (e) => e);
  check(bearer instanceof client.WWWAuthenticateChallengeError && bearer.cause?.[0]?.scheme === 'dpop' &&
    bearer.cause[0].parameters.error === 'invalid_token', `the bound token as a bearer token: ${bearer ? await describe(bearer) : 'accepted'}`);
  const intro = await client.tokenIntrospection(state.rp, tokens.access_token);
  check(intro.active && intro.token_type === 'DPoP' && intro.cnf?.jkt === jkt, `introspection: ${JSON.stringify(intro)}`);
  const refreshed = await client.refreshTokenGrant(state.rp, tokens.refresh_token, undefined, { DPoP });
  check(refreshed.token_type === 'dpop', `refreshed token_type ${refreshed.token_type}`);
  const again = await client.fetchUserInfo(state.rp, refreshed.access_token, user.sub, { DPoP });
  check(again.sub === user.sub, `userinfo with the refreshed token: sub ${again.sub}`);
  return `jkt ${jkt}: token_type dpop, userinfo with a proof, refused as a bearer token (WWW-Authenticate: DPoP error=invalid_token), introspection cnf.jkt, refresh bound`;
});

await flow('introspection', ['tokens', 'rp2'], async () => {
  const at = await client.tokenIntrospection(state.rp, state.tokens.access_token);
  check(at.active === true && at.sub === user.sub && at.client_id === rp.id, `access token: ${JSON.stringify(at)}`);
  // A client that is not in the token's audience learns nothing.
  const other = await client.tokenIntrospection(state.rp2, state.tokens.access_token);
  check(other.active === false, `another client is told ${JSON.stringify(other)}`);
  return `active for ${at.client_id} (sub ${at.sub}, scope ${JSON.stringify(at.scope)}), inactive for ${rp2.id}`;
});

await flow('a wrong client secret (RFC 6749 §5.2)', ['rp', 'tokens'], async () => {
  // The same client with a wrong secret: every endpoint that authenticates
  // clients answers 401 invalid_client (with a Basic challenge, which
  // openid-client surfaces as WWWAuthenticateChallengeError), never a
  // token's state.
  const wrong = await discover({ ...rp, secret: 'not-the-secret' }, client.ClientSecretBasic);
  const seen = [];
  for (const [what, call] of [
    ['token', () => client.refreshTokenGrant(wrong, state.tokens.refresh_token)],
    ['introspection', () => client.tokenIntrospection(wrong, state.tokens.access_token)],
    ['revocation', () => client.tokenRevocation(wrong, state.tokens.access_token)],
  ]) {
    const err = await call().then(() => null, (e) => e);
    check(err, `${what}: answered as if the client were authenticated`);
    // A challenge leaves the body unread: the error code is in it.
    const code = err.error ?? (err.response && !err.response.bodyUsed ? (await err.response.clone().json().catch(() => ({}))).error : undefined);
    check(err.status === 401 && code === 'invalid_client', `${what}: want 401 invalid_client, got ${await describe(err)}`);
    seen.push(what);
  }
  return `401 invalid_client at ${seen.join(', ')}`;
});

await flow('revocation', ['tokens'], async () => {
  await client.tokenRevocation(state.rp, state.tokens.access_token);
  const after = await client.tokenIntrospection(state.rp, state.tokens.access_token);
  check(after.active === false, `introspection after revocation: ${JSON.stringify(after)}`);
  state.revoked = state.tokens.access_token;
  return 'access token revoked (RFC 7009), introspection says inactive';
});

await flow('userinfo after revocation (RFC 6750 §3.1)', ['revoked'], async () => {
  const err = await client.fetchUserInfo(state.rp, state.revoked, user.sub).then(() => null, (e) => e);
  check(err, 'userinfo answered for a revoked access token');
  check(err instanceof client.WWWAuthenticateChallengeError, `want a WWW-Authenticate challenge, got ${await describe(err)}`);
  const bearer = err.cause.find((c) => c.scheme === 'bearer');
  check(err.status === 401 && bearer?.parameters.error === 'invalid_token', `want 401 Bearer error="invalid_token", got ${await describe(err)}`);
  return `401, WWW-Authenticate: Bearer error="${bearer.parameters.error}"`;
});

// signedIn reports whether browser holds a session at the provider:
// prompt=none answers a code (checked by exchanging it) or login_required.
async function signedIn(browser) {
  const { url, checks } = await codeRequest(state.rp, rp.redirect, { prompt: 'none' });
  const r = await browser.navigate(url, [rp.redirect]);
  check(r.callback, `prompt=none: ${landed(r)}, not a redirect to the client`);
  const err = await client.authorizationCodeGrant(state.rp, r.callback, checks).then(() => null, (e) => e);
  if (err === null) return true;
  if (err instanceof client.AuthorizationResponseError && err.error === 'login_required') return false;
  throw err;
}

await flow('RP-initiated logout (end_session)', ['rp', 'browser'], async () => {
  const browser = state.browser;
  check(await signedIn(browser), 'no session to end');
  // Without id_token_hint the user is asked first (RP-Initiated Logout
  // §2): a link from anywhere must not sign people out.
  const asked = { state: client.randomState() };
  const page = await browser.navigate(client.buildEndSessionUrl(state.rp, { post_logout_redirect_uri: rp.postLogout, state: asked.state }), [rp.postLogout]);
  check(!page.callback, `without id_token_hint the user was not asked: ${landed(page)}`);
  check(await signedIn(browser), 'the session ended before the user confirmed');
  const out = await browser.press(page, 'Sign out', [rp.postLogout]);
  check(out.callback?.searchParams.get('state') === asked.state, `after "Sign out": ${landed(out)}, want ${rp.postLogout}?state=${asked.state}`);
  check(!(await signedIn(browser)), 'still signed in after "Sign out"');

  // With an id_token_hint naming the session's user: at once.
  const { url, checks } = await codeRequest(state.rp, rp.redirect);
  const done = await browser.signIn(await browser.navigate(url, [rp.redirect]), [rp.redirect]);
  check(done.callback, `signing in again: ${landed(done)}`);
  const tokens = await client.authorizationCodeGrant(state.rp, done.callback, checks);
  const hinted = { state: client.randomState() };
  const r = await browser.navigate(client.buildEndSessionUrl(state.rp, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: rp.postLogout, state: hinted.state }), [rp.postLogout]);
  check(r.callback?.searchParams.get('state') === hinted.state, `with id_token_hint: ${landed(r)}, want ${rp.postLogout}?state=${hinted.state}`);
  check(!(await signedIn(browser)), 'still signed in after end_session with id_token_hint');
  return 'asked without id_token_hint (session kept until "Sign out"), at once with it; post_logout_redirect_uri with state both times; prompt=none afterwards: login_required';
});

process.exitCode = failures ? 1 : 0;
console.log(failures ? `${failures} flow(s) failed` : 'all flows passed');
