// The store's signed offline bundle (GET /campaigns/offline-bundle?store_id=): the live
// campaigns' terms and which voucher belongs to which, signed by the chain's code key.
// Kept in localStorage as the server sent it, and believed only after its Ed25519
// signature checks against the chain's cached public keys (GET /keys): a device's storage
// is not trusted to say what a voucher is worth.
import { sha256 } from '/static/vendor/noble-hashes/sha2.js';
import { base64UrlDecode, findKey, verifySignature } from '/static/common/codes.js';

const STORE_KEY = 'o2o.clerk.bundle';

// The signature covers this line, then the payload (cards/offline_bundle.py BUNDLE_DOMAIN:
// a bundle's signature never passes for a code's, nor a code's for a bundle's).
const BUNDLE_DOMAIN = new TextEncoder().encode('o2o/offline-bundle/v1\n');
const BUNDLE_VERSION = 2;
const VOUCHER_KEY_DOMAIN = new TextEncoder().encode('o2o/offline-bundle/voucher\n');

const joined = (a, b) => { const out = new Uint8Array(a.length + b.length); out.set(a); out.set(b, a.length); return out; };

// A voucher's key in the bundle (cards/offline_bundle.py voucher_key): base64url of
// SHA-256(VOUCHER_KEY_DOMAIN + the id's 16 bytes), its first 16 characters. The bundle
// never lists voucher ids: with an id, GET /vouchers/{id} is how a member's page fetches
// the voucher's code.
export function voucherKey(voucherId) {
  const hex = String(voucherId).replace(/-/g, '');
  const id = Uint8Array.from(hex.match(/../g) || [], (x) => parseInt(x, 16));
  const digest = sha256(joined(VOUCHER_KEY_DOMAIN, id));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '').slice(0, 16);
}

let verified = null; // the last bundle whose signature was checked, and its document

// The bundle's document when its signature is good and it is this chain's and store's;
// else null. `keys`: the chain's JWKs.
export function openBundle(raw, keys, { chainId, storeId }) {
  if (!raw || !keys) return null;
  // Checked once per bundle: the same payload, signature and key as the last one checked
  // (compared whole: a payload changed under the same signature is checked again, and fails).
  if (verified && verified.payload === raw.payload && verified.signature === raw.signature
      && verified.kid === raw.kid && verified.chainId === chainId && verified.storeId === storeId) return verified.doc;
  const jwk = findKey(keys, raw.kid);
  if (!jwk) return null;
  let doc = null;
  try {
    const payload = base64UrlDecode(raw.payload);
    if (!verifySignature(base64UrlDecode(raw.signature), joined(BUNDLE_DOMAIN, payload), jwk)) return null;
    doc = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  if (doc.version !== BUNDLE_VERSION || doc.chain_id !== chainId || doc.store_id !== storeId) return null;
  verified = { payload: raw.payload, signature: raw.signature, kid: raw.kid, chainId, storeId, doc };
  return doc;
}

export function storedBundle() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY)); } catch { return null; }
}

export async function fetchBundle(api, storeId) {
  const raw = await api.get('/campaigns/offline-bundle', { store_id: storeId });
  localStorage.setItem(STORE_KEY, JSON.stringify({ ...raw, store_id: storeId, fetched_at: Date.now() }));
  return raw;
}

// Why the bundle refuses a scanned voucher code offline (issue 20), or null: being given
// to a friend right now ('voucher_gifting'), or given already, so this code is the
// giver's dead one ('code_replaced': the friend's code ends a second earlier, and
// `code_ends` holds the not_after of the code that works). Older bundles have neither.
export function offlineRefusal(doc, code) {
  if (!doc) return null;
  const key = voucherKey(code.objectId);
  if (doc.gifting?.includes(key)) return 'voucher_gifting';
  const ends = doc.code_ends?.[key];
  if (ends !== undefined && Math.floor(code.notAfter.getTime() / 1000) !== ends) return 'code_replaced';
  return null;
}

// A voucher's terms from the bundle (the shape of the API's `terms`) and its campaign
// name, or null when the bundle does not list it.
export function voucherTerms(doc, voucherId) {
  if (!doc) return null;
  const index = doc.vouchers?.[voucherKey(voucherId)];
  const c = index === undefined ? null : doc.campaigns?.[index];
  if (!c) return null;
  return {
    campaign_name: c.name,
    terms: {
      kind: c.kind, value_cents: c.value_cents, percent_off: c.percent_off,
      max_discount_cents: c.max_discount_cents, item_name: c.item_name,
      min_spend_cents: c.min_spend_cents || 0, store_ids: c.store_ids, weekdays: c.weekdays,
      // The contract spells the hours {from, to} (issue 20); older bundles time_from/until.
      time_from: c.hours?.from ?? c.time_from, time_until: c.hours?.to ?? c.time_until,
      hours: c.hours ?? (c.time_from ? { from: c.time_from, to: c.time_until } : null),
      valid_from: c.valid_from,
      valid_until: c.valid_until,
    },
    timezone: doc.store_timezone,
  };
}
