"""The v1 code format (API.md): exact round trips, and nothing but the canonical text parses."""

from __future__ import annotations

import base64
import re
import struct
import uuid
from typing import Any, cast

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from app.core.codes import CodeKind, CodePayload, InvalidCode, encode, parse
from app.core.codes.format import split

CANONICAL = re.compile(r"O2O1[A-Z2-7]{144}")
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
KEY = Ed25519PrivateKey.generate()

payloads = st.builds(
    CodePayload,
    kind=st.sampled_from(list(CodeKind)),
    kid=st.binary(min_size=4, max_size=4),
    object_id=st.uuids(),
    not_after=st.integers(min_value=0, max_value=2**32 - 1),
)
signatures = st.binary(min_size=64, max_size=64)
whitespace = st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003"])


def signed(payload: CodePayload) -> str:
    return encode(payload, KEY.sign(payload.to_bytes()))


def assert_rejected_or_forged(text: str, original: str) -> None:
    """A mutation of a valid code either does not parse or fails the signature check."""
    assert text != original
    try:
        _, payload_bytes, signature = split(text)
    except InvalidCode:
        return
    with pytest.raises(InvalidSignature):
        KEY.public_key().verify(signature, payload_bytes)


@given(payloads, signatures)
def test_round_trip_of_any_payload(payload: CodePayload, signature: bytes) -> None:
    text = encode(payload, signature)
    assert CANONICAL.fullmatch(text)
    assert parse(text) == (payload, signature)


def test_layout_is_the_contracts() -> None:
    object_id = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    payload = CodePayload(kind=CodeKind.CARD, kid=bytes.fromhex("a1b2c3d4"),
                          object_id=object_id, not_after=1_800_000_000)
    signature = bytes(range(64))
    text = encode(payload, signature)
    raw = base64.b32decode(text[4:])
    assert text.startswith("O2O1") and len(text) == 148 and "=" not in text
    assert raw[:26] == (b"\x01" + b"C" + bytes.fromhex("a1b2c3d4") + object_id.bytes
                        + struct.pack(">I", 1_800_000_000))
    assert raw[26:] == signature
    assert payload.kid_hex == "a1b2c3d4"
    assert [k.value.encode() for k in CodeKind] == [b"V", b"C", b"B"]


@given(payloads, st.data())
def test_any_single_character_change_is_refused(payload: CodePayload, data: st.DataObject) -> None:
    text = signed(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    char = data.draw(st.characters() | st.sampled_from(BASE32))
    assume(char != text[position])
    assert_rejected_or_forged(text[:position] + char + text[position + 1:], text)


def test_every_base32_substitution_fails_the_signature() -> None:
    payload = CodePayload(kind=CodeKind.VOUCHER, kid=b"\x00\x01\x02\x03",
                          object_id=uuid.uuid4(), not_after=2_000_000_000)
    text = signed(payload)
    for position in range(4, len(text)):
        for char in BASE32:
            if char != text[position]:
                assert_rejected_or_forged(text[:position] + char + text[position + 1:], text)


@given(payloads, st.data())
def test_truncation_is_refused(payload: CodePayload, data: st.DataObject) -> None:
    text = signed(payload)
    cut = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    with pytest.raises(InvalidCode):
        parse(text[:cut])
    with pytest.raises(InvalidCode):
        parse(text[len(text) - cut:])


@given(payloads, st.text(min_size=1, max_size=20))
def test_extension_is_refused(payload: CodePayload, extra: str) -> None:
    text = signed(payload)
    with pytest.raises(InvalidCode):
        parse(text + extra)
    with pytest.raises(InvalidCode):
        parse(extra + text)


@given(payloads, st.data())
def test_lower_casing_is_refused(payload: CodePayload, data: st.DataObject) -> None:
    text = signed(payload)
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    chosen = data.draw(st.sets(st.sampled_from(letters), min_size=1))
    lowered = "".join(c.lower() if i in chosen else c for i, c in enumerate(text))
    with pytest.raises(InvalidCode):
        parse(lowered)


def test_whole_code_lower_cased_is_refused() -> None:
    text = signed(CodePayload(kind=CodeKind.BOOKING, kid=b"abcd", object_id=uuid.uuid4(),
                              not_after=1))
    for variant in (text.lower(), "o2o1" + text[4:], text[:4] + text[4:].lower()):
        with pytest.raises(InvalidCode):
            parse(variant)


@given(payloads, st.integers(min_value=1, max_value=6), st.booleans())
def test_padding_is_refused(payload: CodePayload, count: int, replace: bool) -> None:
    text = signed(payload)
    padded = text[:-count] + "=" * count if replace else text + "=" * count
    with pytest.raises(InvalidCode):
        parse(padded)


@given(payloads, st.data(), whitespace)
def test_whitespace_is_refused(payload: CodePayload, data: st.DataObject, space: str) -> None:
    text = signed(payload)
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    for variant in (text[:at] + space + text[at:],
                    text[:at] + space + text[at + 1:] if at < len(text) else space + text[1:]):
        with pytest.raises(InvalidCode):
            parse(variant)


@pytest.mark.parametrize("prefix", ["O2O0", "O2O2", "O201", "020I", "Q2O1", "XXXX", "O2O"])
def test_other_prefixes_are_refused(prefix: str) -> None:
    text = signed(CodePayload(kind=CodeKind.CARD, kid=b"\xff" * 4, object_id=uuid.uuid4(),
                              not_after=10))
    with pytest.raises(InvalidCode):
        parse(prefix + text[4:])


@pytest.mark.parametrize("version", [0, 2, 0x56, 255])
def test_other_versions_are_refused(version: int) -> None:
    raw = bytes([version]) + b"V" + bytes(24) + bytes(64)
    with pytest.raises(InvalidCode, match="version"):
        parse("O2O1" + base64.b32encode(raw).decode())


@given(st.integers(min_value=0, max_value=255).filter(lambda b: b not in b"VCB"))
def test_unknown_kinds_are_refused(kind: int) -> None:
    raw = b"\x01" + bytes([kind]) + bytes(24) + bytes(64)
    with pytest.raises(InvalidCode, match="kind"):
        parse("O2O1" + base64.b32encode(raw).decode())


@given(st.binary(min_size=0, max_size=120).filter(lambda b: len(b) != 90))
def test_other_lengths_are_refused(raw: bytes) -> None:
    encoded = base64.b32encode(raw).decode()
    for text in ("O2O1" + encoded, "O2O1" + encoded.rstrip("=")):
        with pytest.raises(InvalidCode):
            parse(text)


@given(st.text(max_size=300))
@example("")
@example("O2O1")
@example("O2O1" + "A" * 144)
@example("O2O1" + "=" * 144)
@example("O2O1" + "\u0410" * 144)  # Cyrillic A: a letter, not base32
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_random_text_never_crashes(text: str) -> None:
    try:
        payload, signature = parse(text)
    except InvalidCode as exc:
        assert exc.status == 422 and exc.code == "invalid_code"
        return
    assert encode(payload, signature) == text


@given(st.from_regex(CANONICAL, fullmatch=True))
def test_well_formed_text_parses_or_is_invalid_code(text: str) -> None:
    try:
        payload, signature = parse(text)
    except InvalidCode as exc:
        assert "version" in exc.detail or "kind" in exc.detail
        return
    assert encode(payload, signature) == text


@pytest.mark.parametrize("value", [None, b"O2O1", 42, ["O2O1"]])
def test_non_text_is_invalid_code(value: Any) -> None:
    with pytest.raises(InvalidCode):
        parse(cast(str, value))


def test_payload_refuses_what_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        CodePayload(kind=CodeKind.CARD, kid=b"abc", object_id=uuid.uuid4(), not_after=0)
    with pytest.raises(ValueError):
        CodePayload(kind=CodeKind.CARD, kid=b"abcd", object_id=uuid.uuid4(), not_after=2**32)
    with pytest.raises(ValueError):
        CodePayload(kind=cast(CodeKind, "X"), kid=b"abcd", object_id=uuid.uuid4(), not_after=0)
    payload = CodePayload(kind=CodeKind.CARD, kid=b"abcd", object_id=uuid.uuid4(), not_after=0)
    with pytest.raises(ValueError):
        encode(payload, b"short")



@given(st.sampled_from(list(CodeKind)), st.binary(min_size=88, max_size=88))
def test_the_fast_decoding_is_rfc_4648_base32(kind: CodeKind, rest: bytes) -> None:
    """split() decodes without base64.b32decode: the bytes RFC 4648 base32 gives."""
    raw = bytes([1, ord(kind.value)]) + rest
    _, payload_bytes, signature = split("O2O1" + base64.b32encode(raw).decode())
    assert payload_bytes + signature == raw
