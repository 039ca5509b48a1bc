// The signed code format v1 (API.md), checked in the browser for the offline scanner:
// "O2O1" + base32(payload || Ed25519 signature), payload = version u8 · kind u8 · kid 4 ·
// object UUID 16 · not_after u32 (big-endian). Only the server knows whether a code was used.
// Also the one Ed25519 setup of the pages (noble-ed25519 with noble-hashes' sha512):
// base64UrlDecode, findKey and verifySignature serve other signed documents (clerk/bundle.js).
import * as ed from '/static/vendor/noble-ed25519/index.js';
import { sha512 } from '/static/vendor/noble-hashes/sha2.js';

ed.hashes.sha512 = sha512;

const PREFIX = 'O2O1';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const PAYLOAD_LEN = 26;
const SIG_LEN = 64;
const KINDS = { 0x56: 'voucher', 0x43: 'card', 0x42: 'booking' };

function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) return null;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  if (bits >= 5 || value !== 0) return null; // not canonical
  return new Uint8Array(out);
}

// base64url (no padding) -> bytes; throws on text that is not base64.
export function base64UrlDecode(text) {
  const b64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

// The chain's Ed25519 key with this kid among its JWKs (GET /keys), or undefined.
export const findKey = (keys, kid) => (keys || []).find((k) => k.kid === kid && k.crv === 'Ed25519');

// Whether `signature` signs `payload` (bytes) under the JWK's key: strict Ed25519 (no
// zip215), false rather than an exception for a malformed key or signature.
export function verifySignature(signature, payload, jwk) {
  try {
    return ed.verify(signature, payload, base64UrlDecode(jwk.x), { zip215: false });
  } catch {
    return false;
  }
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function uuidOf(bytes) {
  const x = hex(bytes);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function parseCode(text) {
  if (typeof text !== 'string' || !text.startsWith(PREFIX)) return null;
  const raw = base32Decode(text.slice(PREFIX.length));
  if (!raw || raw.length !== PAYLOAD_LEN + SIG_LEN || raw[0] !== 1) return null;
  const kind = KINDS[raw[1]];
  if (!kind) return null;
  const payload = raw.slice(0, PAYLOAD_LEN);
  const view = new DataView(payload.buffer);
  return {
    kind,
    kid: hex(payload.slice(2, 6)),
    objectId: uuidOf(payload.slice(6, 22)),
    notAfter: new Date(view.getUint32(22) * 1000),
    payload,
    signature: raw.slice(PAYLOAD_LEN),
  };
}

// Good up to and including the not_after second (as on the server).
// -> {ok: true, code} or {ok: false, reason: 'invalid_code' | 'code_expired', code?}.
// `keys` are the chain's JWKs from GET /keys?chain_id=: another chain's code has no key here.
export function verifyCode(text, keys, now = Date.now()) {
  const code = parseCode(text);
  if (!code) return { ok: false, reason: 'invalid_code' };
  const jwk = findKey(keys, code.kid);
  if (!jwk || !verifySignature(code.signature, code.payload, jwk)) return { ok: false, reason: 'invalid_code', code };
  if (now >= code.notAfter.getTime() + 1000) return { ok: false, reason: 'code_expired', code };
  return { ok: true, code };
}
