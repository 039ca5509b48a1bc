// The store's signed offline bundle (GET /campaigns/offline-bundle?store_id=): the live
// campaigns' terms and which voucher belongs to which, signed by the chain's code key.
// Kept in localStorage as the server sent it, and believed only after its Ed25519
// signature checks against the chain's cached public keys (GET /keys): a device's storage
// is not trusted to say what a voucher is worth.
import { base64UrlDecode, findKey, verifySignature } from '/static/common/codes.js';

const STORE_KEY = 'o2o.clerk.bundle';

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
    if (!verifySignature(base64UrlDecode(raw.signature), payload, jwk)) return null;
    doc = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  if (doc.version !== 1 || doc.chain_id !== chainId || doc.store_id !== storeId) return null;
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

// A voucher's terms from the bundle (the shape of the API's `terms`) and its campaign
// name, or null when the bundle does not list it.
export function voucherTerms(doc, voucherId) {
  if (!doc) return null;
  const index = doc.vouchers?.[voucherId];
  const c = index === undefined ? null : doc.campaigns?.[index];
  if (!c) return null;
  return {
    campaign_name: c.name,
    terms: {
      kind: c.kind, value_cents: c.value_cents, percent_off: c.percent_off,
      max_discount_cents: c.max_discount_cents, item_name: c.item_name,
      min_spend_cents: c.min_spend_cents || 0, store_ids: c.store_ids, weekdays: c.weekdays,
      time_from: c.time_from, time_until: c.time_until, valid_from: c.valid_from,
      valid_until: c.valid_until,
    },
    timezone: doc.store_timezone,
  };
}
