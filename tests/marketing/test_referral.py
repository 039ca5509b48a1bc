"""Referral (issue 20): a member's code, link and QR; invites recorded by the login that
creates the invitee; both rewarded once at the invitee's first redemption, found by the
runner's tick (racing ticks included); look-alike accounts refused; a paused program.

Every test runs on SQLite and PostgreSQL, through real HTTP (ASGI) and the real tick.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import qrcode
from PIL import Image, ImageDraw

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes import qr
from app.core.runtime import Runtime
from app.core.settings import Settings
from cards.tables import Voucher
from marketing.referral import repository as repo
from marketing.referral import service
from marketing.referral.tables import Referral
from marketing.referral.worker import tick
from marketing.tick import Tick
from stores.tables import Member
from tests.conftest import make_settings
from tests.world import World

API = "/api/v1"
ZBARIMG = shutil.which("zbarimg")
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$")


@dataclass
class Ref:
    client: httpx.AsyncClient
    world: World
    logins: int = 0

    @property
    def operator(self) -> dict[str, str]:
        return self.world.headers(self.world.a.operator)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.world.app.state.runtime
        return runtime

    async def campaign(self, name: str, *, limit: int = 10) -> str:
        start = datetime.now(UTC)
        response = await self.client.post(f"{API}/campaigns", headers=self.operator, json={
            "name": name, "kind": "cash", "value_cents": 1_000, "total_quantity": 1_000,
            "per_member_limit": limit,
            "valid_from": (start - timedelta(days=1)).isoformat(),
            "valid_until": (start + timedelta(days=30)).isoformat()})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def program(self, status: str = "active") -> dict[str, Any]:
        self.referrer_campaign = getattr(self, "referrer_campaign", None) or \
            await self.campaign("Thanks for your friend")
        self.invitee_campaign = getattr(self, "invitee_campaign", None) or \
            await self.campaign("Welcome, friend")
        self.visit_campaign = getattr(self, "visit_campaign", None) or \
            await self.campaign("First visit", limit=5)
        response = await self.client.put(f"{API}/referral-program", headers=self.operator,
                                         json={"referrer_campaign_id": self.referrer_campaign,
                                               "invitee_campaign_id": self.invitee_campaign,
                                               "status": status})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def login(self, openid: str | None = None, referral_code: str | None = None,
                    chain: uuid.UUID | None = None) -> Principal:
        self.logins += 1
        body: dict[str, Any] = {"chain_id": str(chain or self.world.a.id),
                                "code": f"sandbox:{openid or f'friend-{uuid.uuid4().hex}'}"}
        if referral_code is not None:
            body["referral_code"] = referral_code
        response = await self.client.post(f"{API}/auth/member/wechat", json=body)
        assert response.status_code == 200, response.text
        member = response.json()["member"]
        return Principal(kind="member", id=uuid.UUID(member["id"]),
                         chain_id=uuid.UUID(member["chain_id"]), role="member")

    async def mine(self, member: Principal) -> dict[str, Any]:
        response = await self.client.get(f"{API}/me/referral",
                                         headers=self.world.headers(member))
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def set_phone(self, member: Principal, phone: str) -> None:
        response = await self.client.patch(f"{API}/me", json={"phone": phone},
                                           headers=self.world.headers(member))
        assert response.status_code == 200, response.text

    async def visit(self, member: Principal) -> str:
        """The member claims a voucher and a clerk redeems it: a redemption (its id)."""
        claimed = await self.client.post(f"{API}/campaigns/{self.visit_campaign}/claim",
                                         headers=self.world.headers(member))
        assert claimed.status_code == 201, claimed.text
        redeemed = await self.client.post(
            f"{API}/redemptions",
            headers=self.world.headers(self.world.a.staff["alpha-clerk1"]),
            json={"code": claimed.json()["code"], "store_id": str(self.world.a.stores[0]),
                  "amount_cents": 5_000})
        assert redeemed.status_code == 201, redeemed.text
        return str(redeemed.json()["id"])

    async def tick(self, now: datetime | None = None) -> None:
        await tick(Tick(signer=self.runtime.signer, now=now or utcnow(),
                        settings=self.runtime.settings))


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The server's own runner stays off: the tests tick themselves, at known moments."""
    return make_settings(database_url, marketing_runner=False)


@pytest.fixture
async def ref(client: httpx.AsyncClient, world: World) -> Ref:
    return Ref(client, world)


async def invites() -> list[dict[str, Any]]:
    return list(await Referral.select().order_by(Referral.created_at).run())


async def referral_vouchers(member_id: uuid.UUID) -> list[dict[str, Any]]:
    return list(await Voucher.select(Voucher.id, Voucher.campaign, Voucher.source_id).where(
        (Voucher.member == member_id) & (Voucher.source == "referral")).run())


def draw_svg(svg: bytes, scale: int = 8) -> Image.Image:
    """Our own rasteriser of the SVG's one path (runs ``M x y h w v1 h-w z``): what the SVG
    says, not what the PNG drawer drew."""
    text = svg.decode()
    side = int(re.search(r'viewBox="0 0 (\d+) \d+"', text).group(1))  # type: ignore[union-attr]
    image = Image.new("L", (side * scale, side * scale), 255)
    pen = ImageDraw.Draw(image)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", text):
        x0, y0 = int(x) * scale, int(y) * scale
        pen.rectangle([x0, y0, x0 + int(w) * scale - 1, y0 + scale - 1], fill=0)
    return image


def decoded(image: Image.Image, tmp_path: Path, name: str) -> str:
    """The text a real decoder (zbar) reads from the image; without zbar, the matrix of
    the ``qrcode`` library for the expected text is compared by the caller instead."""
    assert ZBARIMG is not None
    path = tmp_path / f"{name}.png"
    image.save(path)
    result = subprocess.run([ZBARIMG, "--raw", "--quiet", "-Sdisable", "-Sqrcode.enable",
                             str(path)], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def test_code_is_stable_unique_and_its_link_and_qr_say_it(ref: Ref,
                                                                tmp_path: Path) -> None:
    await ref.program()
    first, second = ref.world.a.members
    mine = await ref.mine(first)
    assert CODE.fullmatch(mine["code"])
    assert mine["invited"] == 0 and mine["rewarded"] == 0
    assert mine["program_status"] == "active"
    assert mine["invitee_reward"]["name"] == "Welcome, friend"
    # Stable across reads (and two first reads at once give one code).
    again = await asyncio.gather(ref.mine(first), ref.mine(first))
    assert {a["code"] for a in again} == {mine["code"]}
    newcomers = [await ref.login() for _ in range(3)]
    others = await asyncio.gather(*(ref.mine(m) for m in (second, *newcomers)))
    codes = {o["code"] for o in others} | {mine["code"]}
    assert len(codes) == 5
    # The link: the member page on the chain with the code (no O2O_PUBLIC_URL: the
    # request's own host).
    parts = urlsplit(mine["link"])
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver.local", "/m/")
    assert parse_qs(parts.query) == {"chain": [str(ref.world.a.id)], "ref": [mine["code"]]}

    headers = ref.world.headers(first)
    png = await ref.client.get(f"{API}/me/referral/qr.png", headers=headers)
    svg = await ref.client.get(f"{API}/me/referral/qr.svg", headers=headers)
    assert png.status_code == svg.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert svg.headers["content-type"].startswith("image/svg+xml")
    if ZBARIMG is not None:
        assert decoded(Image.open(io.BytesIO(png.content)), tmp_path, "png") == mine["link"]
        assert decoded(draw_svg(svg.content), tmp_path, "svg") == mine["link"]
    else:  # the qrcode library's own matrix of the link, module for module
        ours = qr.matrix(mine["link"], link=True)
        theirs = qrcode.QRCode(error_correction=qr.ERROR_CORRECTION, border=0,
                               mask_pattern=qr.MASK_PATTERN)
        theirs.add_data(mine["link"].encode())
        theirs.make(fit=True)
        assert ours == [[bool(m) for m in row] for row in theirs.modules]
    # Members only; an operator has no code.
    assert (await ref.client.get(f"{API}/me/referral", headers=ref.operator)).status_code == 403


async def test_program_is_the_chains_and_operators_only(ref: Ref) -> None:
    missing = await ref.client.get(f"{API}/referral-program", headers=ref.operator)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    beta_campaign = await ref.client.post(
        f"{API}/campaigns", headers=ref.world.headers(ref.world.b.operator), json={
            "name": "beta", "kind": "cash", "value_cents": 100, "total_quantity": 5,
            "valid_from": "2026-01-01T00:00:00+08:00",
            "valid_until": "2027-12-31T00:00:00+08:00"})
    assert beta_campaign.status_code == 201, beta_campaign.text
    mine = await ref.campaign("alpha")
    refused = await ref.client.put(f"{API}/referral-program", headers=ref.operator, json={
        "referrer_campaign_id": mine, "invitee_campaign_id": beta_campaign.json()["id"]})
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    bad = await ref.client.put(f"{API}/referral-program", headers=ref.operator, json={
        "referrer_campaign_id": mine, "invitee_campaign_id": mine, "status": "on"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    for who in (ref.world.a.staff["alpha-manager"], ref.world.a.members[0]):
        denied = await ref.client.put(f"{API}/referral-program", headers=ref.world.headers(who),
                                      json={"referrer_campaign_id": mine,
                                            "invitee_campaign_id": mine})
        assert denied.status_code == 403
    program = await ref.program()
    assert program["status"] == "active" and program["invited"] == 0
    read = await ref.client.get(f"{API}/referral-program", headers=ref.operator)
    assert read.json()["referrer_campaign_id"] == ref.referrer_campaign
    beta = await ref.client.get(f"{API}/referral-program",
                                headers=ref.world.headers(ref.world.b.operator))
    assert beta.status_code == 404


async def test_an_invite_is_recorded_once_by_the_login_that_creates_the_member(
        ref: Ref) -> None:
    await ref.program()
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    # Case-insensitive, dashes and spaces ignored.
    friend = await ref.login("friend-one", f" {code[:4].lower()}-{code[4:]} ")
    again = await ref.login("friend-one", code)  # not created by this login: nothing
    assert again.id == friend.id
    other_code = (await ref.mine(ref.world.a.members[1]))["code"]
    assert (await ref.login("friend-one", other_code)).id == friend.id
    # The referrer signing in through their own link; an existing member; unknown codes,
    # another chain's code: all sign in, none invites.
    await ref.login(None, code)  # a new member: invited (2nd)
    assert (await ref.client.post(f"{API}/auth/member/wechat", json={
        "chain_id": str(ref.world.a.id), "code": "sandbox:friend-x",
        "referral_code": "0OIL1"})).status_code == 200
    await ref.login(None, "ZZZZZZZZ")
    beta_code = (await ref.mine(ref.world.b.members[0]))["code"]
    await ref.login(None, beta_code)
    await ref.login(None, code, chain=ref.world.b.id)  # alpha's code at beta
    too_long = await ref.client.post(f"{API}/auth/member/wechat", json={
        "chain_id": str(ref.world.a.id), "code": "sandbox:friend-y", "referral_code": "A" * 65})
    assert too_long.status_code == 400

    rows = await invites()
    assert [(r["referrer"], r["status"]) for r in rows] == [(referrer.id, "pending")] * 2
    assert rows[0]["invitee"] == friend.id and rows[0]["code"] == code
    mine = await ref.mine(referrer)
    assert (mine["invited"], mine["rewarded"]) == (2, 0)
    listed = await ref.client.get(f"{API}/referrals?status=pending", headers=ref.operator)
    assert [r["invitee_id"] for r in listed.json()] == [str(rows[1]["invitee"]),
                                                        str(friend.id)]


RACERS = 6


async def test_first_redemption_rewards_both_once_even_with_racing_ticks(
        ref: Ref, engine_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await ref.program()
    referrer = ref.world.a.members[0]
    friend = await ref.login(None, (await ref.mine(referrer))["code"])
    await ref.tick()  # nothing redeemed yet: nothing happens
    assert (await invites())[0]["status"] == "pending"

    first = await ref.visit(friend)
    await ref.visit(friend)
    # Many ticks at once (several processes' runners): one reward. On PostgreSQL every
    # tick is held until all have read the invite as pending, so all of them really try
    # the conditional update at once (SQLite's write transactions take turns by design).
    read, outcomes = asyncio.Event(), []
    readers = 0
    real_read, real_decide = repo.get_referral, repo.decide

    async def read_together(referral_id: uuid.UUID) -> Any:
        nonlocal readers
        row = await real_read(referral_id)
        readers += 1
        if readers == RACERS:
            read.set()
        await asyncio.wait_for(read.wait(), timeout=10)
        return row

    async def decide(*args: Any, **kwargs: Any) -> bool:
        won = await real_decide(*args, **kwargs)
        outcomes.append(won)
        return won

    if engine_name == "postgres":
        monkeypatch.setattr(repo, "get_referral", read_together)
    monkeypatch.setattr(repo, "decide", decide)
    await asyncio.gather(*(ref.tick() for _ in range(RACERS)))
    monkeypatch.undo()
    if engine_name == "postgres":
        assert sorted(outcomes) == [False] * (RACERS - 1) + [True]
    else:
        assert outcomes == [True]
    await ref.tick()
    row = (await invites())[0]
    assert row["status"] == "rewarded" and str(row["redemption_id"]) == first
    mine = await referral_vouchers(referrer.id)
    theirs = await referral_vouchers(friend.id)
    assert [(str(v["campaign"]), v["source_id"]) for v in mine] == [
        (ref.referrer_campaign, row["id"])]
    assert [(str(v["campaign"]), v["source_id"]) for v in theirs] == [
        (ref.invitee_campaign, row["id"])]
    assert (row["referrer_voucher"], row["invitee_voucher"]) == (mine[0]["id"], theirs[0]["id"])
    figures = await ref.mine(referrer)
    assert (figures["invited"], figures["rewarded"]) == (1, 1)
    # Both see the voucher among their own.
    listed = await ref.client.get(f"{API}/me/vouchers", headers=ref.world.headers(friend))
    assert str(mine[0]["id"]) not in {v["id"] for v in listed.json()}
    assert str(theirs[0]["id"]) in {v["id"] for v in listed.json()}
    totals = await service.referral_figures(ref.world.a.id, utcnow() - timedelta(hours=1),
                                            utcnow() + timedelta(hours=1))
    assert (totals.invited, totals.rewarded, totals.refused, totals.pending,
            totals.referrer_vouchers, totals.invitee_vouchers) == (1, 1, 0, 0, 1, 1)


async def test_a_reversed_first_redemption_does_not_count(ref: Ref) -> None:
    await ref.program()
    referrer = ref.world.a.members[0]
    friend = await ref.login(None, (await ref.mine(referrer))["code"])
    undone = await ref.visit(friend)
    reversed_ = await ref.client.post(
        f"{API}/redemptions/{undone}/reverse",
        headers=ref.world.headers(ref.world.a.staff["alpha-manager"]))
    assert reversed_.status_code == 200, reversed_.text
    await ref.tick()
    assert (await invites())[0]["status"] == "pending"
    assert await referral_vouchers(referrer.id) == []
    kept = await ref.visit(friend)  # the next real visit rewards
    await ref.tick()
    row = (await invites())[0]
    assert row["status"] == "rewarded" and str(row["redemption_id"]) == kept


async def test_look_alike_accounts_are_refused(ref: Ref) -> None:
    await ref.program()
    referrer = ref.world.a.members[0]  # registered at the counter with a phone
    referrer_phone = (await ref.client.get(f"{API}/me", headers=ref.world.headers(referrer))
                      ).json()["phone"]
    code = (await ref.mine(referrer))["code"]
    honest = await ref.login(None, code)
    same_phone = await ref.login(None, code)
    ring = [await ref.login(None, code) for _ in range(2)]
    known = await ref.login(None, code)
    await ref.set_phone(honest, "13911110000")
    await ref.set_phone(same_phone, referrer_phone)  # unverified: still the referrer's
    for fake in ring:  # a chain of fake accounts behind one phone
        await ref.set_phone(fake, "13922220000")
    await ref.set_phone(known, "13800007002")  # alpha member 2's (tests/world.py)
    for member in (honest, same_phone, *ring, known):
        await ref.visit(member)
    await ref.tick()
    status = {r["invitee"]: (r["status"], r["reason"]) for r in await invites()}
    assert status == {
        honest.id: ("rewarded", None),
        same_phone.id: ("refused", "shared_phone"),
        ring[0].id: ("rewarded", None),
        ring[1].id: ("refused", "phone_of_invited_member"),
        known.id: ("refused", "phone_of_member"),
    }
    # No voucher for a refused invite, on either side.
    assert len(await referral_vouchers(referrer.id)) == 2
    for member in (same_phone, ring[1], known):
        assert await referral_vouchers(member.id) == []
    figures = await ref.mine(referrer)
    assert (figures["invited"], figures["rewarded"]) == (5, 2)
    refused = await ref.client.get(f"{API}/referrals?status=refused", headers=ref.operator)
    assert {r["reason"] for r in refused.json()} == {"shared_phone", "phone_of_invited_member",
                                                      "phone_of_member"}


async def test_a_paused_program_records_nothing_and_its_invites_wait(ref: Ref) -> None:
    await ref.program()
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    friend = await ref.login(None, code)
    await ref.program("paused")
    assert (await ref.mine(referrer))["program_status"] == "paused"
    await ref.login(None, code)  # while paused: no invite
    await ref.visit(friend)
    await ref.tick()
    assert [(r["invitee"], r["status"]) for r in await invites()] == [(friend.id, "pending")]
    assert await referral_vouchers(friend.id) == []
    program = await ref.program("active")
    assert (program["invited"], program["pending"]) == (1, 1)
    await ref.tick()
    assert (await invites())[0]["status"] == "rewarded"
    assert len(await referral_vouchers(friend.id)) == 1


async def test_one_wechat_user_behind_two_accounts_is_refused(ref: Ref) -> None:
    """A unionid is one person across the chain's apps (sandbox logins carry none: the
    test writes them as a live code2session would have)."""
    await ref.program()
    referrer = ref.world.a.members[0]
    code = (await ref.mine(referrer))["code"]
    alias, twin, other_twin = [await ref.login(None, code) for _ in range(3)]
    for member, unionid in ((referrer, "u-referrer"), (alias, "u-referrer"),
                            (twin, "u-twin"), (other_twin, "u-twin")):
        await Member.update({Member.unionid: unionid}).where(Member.id == member.id).run()
    for member in (alias, twin, other_twin):
        await ref.visit(member)
    await ref.tick()
    status = {r["invitee"]: (r["status"], r["reason"]) for r in await invites()}
    assert status == {alias.id: ("refused", "same_wechat_user"), twin.id: ("rewarded", None),
                      other_twin.id: ("refused", "wechat_user_of_invited_member")}
