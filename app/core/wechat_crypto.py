"""The official account's message server: WeChat's server check and its safe mode
(消息加解密, the WXBizMsgCrypt scheme), plus the card bag's and JS-SDK's SHA-1 signatures.

Safe mode, as WeChat documents it (decision 057):

- ``AESKey = base64decode(EncodingAESKey + "=")`` (43 characters give 32 bytes);
  AES-256-CBC with ``iv = AESKey[:16]``, PKCS#7 padding to a multiple of **32** bytes
  (not AES's 16: WeChat's own choice; unpadding accepts 1..32).
- plaintext = 16 random bytes + the message's length (4 bytes, big-endian) + the message
  (UTF-8 XML) + the appid; the appid after decryption must be ours.
- ``msg_signature = sha1("".join(sorted([token, timestamp, nonce, Encrypt])))``; the plain
  server check signs ``sorted([token, timestamp, nonce])``.

Every failure (signature, base64, padding, length, appid, XML) raises :class:`CryptError`
and nothing else, so a caller maps one exception to 401. The XML is parsed with expat
directly, refusing any DOCTYPE or entity declaration (no billion laughs, no external
entities), and only the flat children of ``<xml>`` are kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from xml.parsers import expat

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat's PKCS#7 block size
MAX_XML_BYTES = 256 * 1024  # a push is a few hundred bytes; refuse anything absurd


class CryptError(Exception):
    """A push or check that is not WeChat's: bad signature, ciphertext, padding, appid or
    XML. The message says which, for the log; never shown to the caller."""


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def sorted_sha1(*values: str) -> str:
    """WeChat's signatures: sort the values (as strings), concatenate, SHA-1 hex."""
    return _sha1(*sorted(values))


def card_sign(*values: str) -> str:
    """``cardExt``'s signature (卡券签名): sha1 of the sorted values concatenated
    (api_ticket, code, openid, timestamp, nonce_str, card_id; empty ones may be left out)."""
    return sorted_sha1(*values)


def jsapi_sign(ticket: str, nonce_str: str, timestamp: str | int, url: str) -> str:
    """``wx.config``'s signature (JS-SDK appendix 1): sha1 of the fields in this order,
    ``url`` without its ``#fragment``."""
    url = url.split("#", 1)[0]
    return _sha1(f"jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}")


class MessageCrypt:
    """One chain's message server: its token, EncodingAESKey and official account appid."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise CryptError("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptError("EncodingAESKey is not base64") from exc
        self._token = token
        self._key = key
        self._app_id = app_id.encode()

    # --- signatures ---------------------------------------------------------------------

    def check_signature(self, signature: str, timestamp: str, nonce: str) -> bool:
        """The plain server check (GET with ``echostr``) and the ``signature`` of a push."""
        expected = sorted_sha1(self._token, timestamp, nonce)
        return hmac.compare_digest(expected.encode(), signature.lower().encode())

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sorted_sha1(self._token, timestamp, nonce, encrypted)

    # --- safe mode ----------------------------------------------------------------------

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """The XML inside ``Encrypt``, after checking ``msg_signature`` and our appid."""
        if not hmac.compare_digest(self.sign(timestamp, nonce, encrypted).encode(),
                                   msg_signature.lower().encode()):
            raise CryptError("msg_signature does not match")
        plain = _unpad(self._aes_decrypt(encrypted))
        if len(plain) < 20:
            raise CryptError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        xml, app_id = plain[20:20 + length], plain[20 + length:]
        if len(xml) != length:
            raise CryptError("message length beyond the plaintext")
        if not hmac.compare_digest(app_id, self._app_id):
            raise CryptError("appid does not match")
        try:
            return xml.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptError("message is not UTF-8") from exc

    def open_push(self, msg_signature: str, timestamp: str, nonce: str,
                  body: str | bytes) -> dict[str, str]:
        """A safe-mode push's body (``<xml><ToUserName/><Encrypt/></xml>``) to the event's
        fields (``FromUserName``, ``CreateTime``, ``Event``, ``CardId``...). The caller
        still checks the timestamp's age: this module has no clock."""
        encrypted = parse_xml(body).get("Encrypt")
        if not encrypted:
            raise CryptError("no Encrypt in the push")
        return parse_xml(self.decrypt(msg_signature, timestamp, nonce, encrypted))

    def encrypt(self, xml: str, timestamp: str, nonce: str, *,
                random_prefix: bytes | None = None) -> tuple[str, str]:
        """``(Encrypt, msg_signature)`` for ``xml`` (a reply, or the stand-in's pushes).
        ``random_prefix`` (16 bytes) only for reproducing WeChat's published vectors."""
        prefix = random_prefix if random_prefix is not None else secrets.token_bytes(16)
        if len(prefix) != 16:
            raise CryptError("the random prefix is 16 bytes")
        body = xml.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._app_id
        encryptor = self._cipher().encryptor()
        encrypted = base64.b64encode(encryptor.update(_pad(plain)) + encryptor.finalize())
        text = encrypted.decode()
        return text, self.sign(timestamp, nonce, text)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def _aes_decrypt(self, encrypted: str) -> bytes:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptError("Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptError("ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        return decryptor.update(raw) + decryptor.finalize()


def _pad(data: bytes) -> bytes:
    amount = BLOCK - len(data) % BLOCK
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    if not data:
        raise CryptError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK or amount > len(data) or data[-amount:] != bytes([amount]) * amount:
        raise CryptError("bad padding")
    return data[:-amount]


# --- XML ----------------------------------------------------------------------------------


def parse_xml(text: str | bytes) -> dict[str, str]:
    """The flat children of ``<xml>`` as ``{tag: text}`` (CDATA or not; nested elements'
    own children are skipped). Refuses DTDs and entity declarations."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_XML_BYTES:
        raise CryptError("XML too large")
    return _FlatXml().parse(data)


class _FlatXml:
    """expat with handlers: no DOCTYPE means no entity can be declared, so a billion
    laughs or an external entity never starts."""

    def __init__(self) -> None:
        self.depth = 0
        self.root: str | None = None
        self.text: list[str] = []
        self.fields: dict[str, str] = {}

    def parse(self, data: bytes) -> dict[str, str]:
        parser = expat.ParserCreate()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._chars
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.UnparsedEntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse_external
        try:
            parser.Parse(data, True)
        except expat.ExpatError as exc:
            raise CryptError(f"not XML: {exc}") from exc
        if self.root != "xml":
            raise CryptError("the root element is not <xml>")
        return self.fields

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1:
            self.root = name
        elif self.depth == 2:
            self.text = []

    def _end(self, name: str) -> None:
        if self.depth == 2:
            self.fields[name] = "".join(self.text)
        self.depth -= 1

    def _chars(self, content: str) -> None:
        if self.depth == 2:
            self.text.append(content)

    @staticmethod
    def _refuse(*_args: object) -> None:
        raise CryptError("DTDs and entities are refused")

    @staticmethod
    def _refuse_external(*_args: object) -> int:
        raise CryptError("DTDs and entities are refused")


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside one CDATA section: split it across two.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(fields: dict[str, str | int]) -> str:
    """``<xml>`` with one child per field: numbers bare, strings in CDATA (WeChat's style)."""
    parts = []
    for tag, value in fields.items():
        if not tag.isidentifier():
            raise ValueError(f"not an XML tag name: {tag!r}")
        inner = str(value) if isinstance(value, int) else _cdata(value)
        parts.append(f"<{tag}>{inner}</{tag}>")
    return "<xml>" + "".join(parts) + "</xml>"
