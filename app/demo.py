"""`o2o demo`: a believable hair-salon chain with two Shanghai stores, with four weeks of
history behind today (``app.demo_history``: thirty more members, their visits, top-ups,
bookings and redemptions), so the dashboard has something to show. Idempotent: a second
run finds the chain by name and only prints the logins again."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.codes.keys import CodeSigner
from app.core.commands import settings_or_exit
from app.core.db import write_transaction
from app.demo_history import (
    CampaignSetup,
    ServiceSetup,
    Setup,
    StoreSetup,
    TemplateSetup,
    campaign_window,
    seed_history,
)
from bookings import service as booking_service
from bookings.schemas import BookingCreate
from cards import service as card_service
from cards import vouchers
from cards.schemas import (
    CampaignCreate,
    CampaignOut,
    CardIssue,
    IssueIn,
    TemplateCreate,
    TemplateOut,
    Tier,
    TopUp,
    TopUpOption,
)
from stores import service as stores
from stores.schemas import (
    MemberCreate,
    OpeningHours,
    ResourceCreate,
    ServiceCreate,
    StaffCreate,
    StoreCreate,
)

CHAIN_NAME = "Silk Hair Salon 丝发廊 (demo)"
PASSWORD = "demo-pass-2026"
LOGINS = [
    ("operator", "demo-operator"),
    ("manager", "demo-manager"),
    ("clerk", "demo-clerk-jingan"),
    ("clerk", "demo-clerk-xuhui"),
]
STORES = [
    ("静安店 Jing'an", "上海市静安区南京西路 1266 号"),
    ("徐汇店 Xuhui", "上海市徐汇区衡山路 8 号"),
]
SERVICES = [("Haircut 剪发", 45, 8800, 15), ("Colour 染发", 120, 38800, 15),
            ("Wash & blow-dry 洗吹", 30, 4800, 0)]
STYLISTS = ["Tony", "Amy", "Kevin"]
MEMBERS = [("王芳", "13800138001"), ("李娜", "13800138002"), ("张伟", "13800138003"),
           ("Chen Jing", "13800138004"), ("刘洋", "13800138005")]


def _hours() -> list[OpeningHours]:
    return [OpeningHours(weekday=d, open="10:00", close="21:00") for d in range(7)]


async def seed_demo() -> list[str]:
    header = "Demo chain already present."
    async with write_transaction():  # all or nothing, so a failed run can simply be re-run
        chain = await stores.chain_by_name(CHAIN_NAME)
        if chain is None:
            await _seed()
            chain = await stores.chain_by_name(CHAIN_NAME)
            assert chain is not None
            header = "Demo chain created."
    lines = [header, f"chain_id: {chain['id']}", "Staff logins (username / password):"]
    lines += [f"  {role:<8} {username} / {PASSWORD}" for role, username in LOGINS]
    lines.append("Member logins (sandbox): POST /api/v1/auth/member/wechat "
                 f'{{"chain_id": "{chain["id"]}", "code": "sandbox:demo-member-1"}}')
    lines.append(f"Pages: /m/?chain={chain['id']} (member, code sandbox:demo-member-1), "
                 "/clerk/ (clerks), /admin/ (operator, manager)")
    return lines


async def _seed() -> None:
    chain_id, operator_id = await stores.create_chain_with_operator(
        CHAIN_NAME, LOGINS[0][1], PASSWORD)
    operator = Principal(kind="staff", id=operator_id, chain_id=chain_id, role="operator")
    store_ids: list[uuid.UUID] = []
    store_setups: list[tuple[list[ServiceSetup], list[uuid.UUID]]] = []
    for name, address in STORES:
        store = await stores.create_store(operator, StoreCreate(
            name=name, address=address, timezone="Asia/Shanghai", opening_hours=_hours(),
            phone="021-62880000"))
        store_ids.append(store.id)
        services = [
            await stores.create_service(operator, store.id, ServiceCreate(
                name=s, duration_minutes=d, price_cents=p, buffer_minutes=b))
            for s, d, p, b in SERVICES
        ]
        service_ids = [service.id for service in services]
        stylists = [
            (await stores.create_resource(operator, store.id, ResourceCreate(
                name=stylist, kind="staff", capacity=1, service_ids=service_ids))).id
            for stylist in STYLISTS
        ]
        store_setups.append(([ServiceSetup(s.id, s.duration_minutes, s.price_cents,
                                           s.buffer_minutes) for s in services], stylists))
        await stores.create_resource(operator, store.id, ResourceCreate(
            name="Wash station 洗头区", kind="room", capacity=3, service_ids=service_ids[2:]))
    manager = await stores.create_staff(operator, StaffCreate(
        username=LOGINS[1][1], password=PASSWORD, role="manager", store_ids=store_ids,
        name="Manager Zhou"))
    clerks = [
        (await stores.create_staff(operator, StaffCreate(
            username=username, password=PASSWORD, role="clerk", store_ids=[store_id],
            name=username.rsplit("-", 1)[-1].title()))).id
        for (_, username), store_id in zip(LOGINS[2:], store_ids, strict=True)
    ]
    members = [
        await stores.register_member(operator, MemberCreate(name=name, phone=phone,
                                                            store_id=store_ids[0]))
        for name, phone in MEMBERS
    ]
    # The sandbox login "sandbox:demo-member-1" is 王芳, who holds cards and vouchers.
    await stores.set_openid(members[0].id, "demo-member-1")
    templates = await _seed_cards(operator, store_ids[0], [m.id for m in members])
    history_campaigns = await _seed_campaigns(operator, [m.id for m in members])
    await _seed_bookings(chain_id, store_ids[0], members[0].id)
    await seed_history(Setup(
        chain_id=chain_id, manager_id=manager.id,
        stores=[StoreSetup(store_id, clerk, services, stylists) for store_id, clerk,
                (services, stylists) in zip(store_ids, clerks, store_setups, strict=True)],
        prepaid=templates[0], times=templates[1], membership=templates[2],
        thank_you=history_campaigns[0], member_day=history_campaigns[1],
    ), CodeSigner(settings_or_exit().secret_key), utcnow())


def _template_setup(template: TemplateOut) -> TemplateSetup:
    return TemplateSetup(
        id=template.id, kind=template.kind, points_per_yuan=template.points_per_yuan,
        tiers=[{"name": t.name, "min_points": t.min_points,
                "discount_percent": t.discount_percent} for t in template.tiers],
        initial_visits=template.initial_visits, validity_days=template.validity_days)


def _campaign_setup(campaign: CampaignOut) -> CampaignSetup:
    return CampaignSetup(
        id=campaign.id, kind=campaign.kind, value_cents=campaign.value_cents,
        percent_off=campaign.percent_off, max_discount_cents=campaign.max_discount_cents,
        min_spend_cents=campaign.min_spend_cents, valid_from=campaign.valid_from,
        valid_until=campaign.valid_until)


async def _seed_cards(operator: Principal, store_id: uuid.UUID,
                      member_ids: list[uuid.UUID]) -> list[TemplateSetup]:
    """The three card templates (prepaid, times, membership, returned in that order) and
    today's cards of the first members."""
    tiers = [Tier(name="银卡 Silver", min_points=500, discount_percent=5),
             Tier(name="金卡 Gold", min_points=3000, discount_percent=12)]
    prepaid = await card_service.create_template(operator, TemplateCreate(
        name="储值卡 Prepaid", kind="stored_value", points_per_yuan=1, tiers=tiers,
        # What the member page offers online: "充 ¥200 送 ¥10", "充 ¥500 送 ¥50"...
        top_up_options=[TopUpOption(amount_cents=amount, bonus_cents=bonus)
                        for amount, bonus in ((20_000, 1_000), (50_000, 5_000),
                                              (100_000, 15_000))]))
    times = await card_service.create_template(operator, TemplateCreate(
        name="剪发十次卡 10 haircuts", kind="times", initial_visits=10, validity_days=365,
        claimable=False))
    membership = await card_service.create_template(operator, TemplateCreate(
        name="会员卡 Membership", kind="membership", points_per_yuan=2, tiers=tiers))
    for index, member_id in enumerate(member_ids[:3]):
        card = await card_service.issue_card(operator, CardIssue(
            template_id=prepaid.id, member_id=member_id, store_id=store_id))
        await card_service.top_up(operator, card.id, TopUp(
            amount_cents=(index + 1) * 50_000, store_id=store_id))
    await card_service.issue_card(operator, CardIssue(
        template_id=times.id, member_id=member_ids[0], store_id=store_id))
    return [_template_setup(t) for t in (prepaid, times, membership)]


async def _seed_campaigns(operator: Principal,
                          member_ids: list[uuid.UUID]) -> list[CampaignSetup]:
    """Today's three campaigns, and the two that ran over the history's weeks and ended
    yesterday (returned: a cash voucher on joining, a discount sent on member days)."""
    now = utcnow()
    signer = CodeSigner(settings_or_exit().secret_key)
    welcome = await vouchers.create_campaign(operator, CampaignCreate(
        name="新客立减 ¥20 Welcome", kind="cash", value_cents=2000, min_spend_cents=10000,
        total_quantity=500, per_member_limit=1, valid_from=now,
        valid_until=now + timedelta(days=90)))
    await vouchers.create_campaign(operator, CampaignCreate(
        name="周中 8 折 Weekday 20% off", kind="discount", percent_off=20,
        max_discount_cents=5000, total_quantity=200, per_member_limit=2, valid_from=now,
        valid_until=now + timedelta(days=30)))
    await vouchers.create_campaign(operator, CampaignCreate(
        name="免费护发 Free hair mask", kind="service", item_name="Hair mask 护发",
        total_quantity=50, valid_from=now, valid_until=now + timedelta(days=60)))
    await vouchers.issue(operator, welcome.id, IssueIn(member_ids=member_ids[:3]), signer)
    began, ended = campaign_window(now)
    thank_you = await vouchers.create_campaign(operator, CampaignCreate(
        name="老客回馈 ¥30 Thank-you", kind="cash", value_cents=3000, min_spend_cents=15000,
        total_quantity=300, per_member_limit=1, valid_from=began, valid_until=ended))
    member_day = await vouchers.create_campaign(operator, CampaignCreate(
        name="会员日 85 折 Member day 15% off", kind="discount", percent_off=15,
        max_discount_cents=6000, total_quantity=500, per_member_limit=2, valid_from=began,
        valid_until=ended))
    return [_campaign_setup(thank_you), _campaign_setup(member_day)]


async def _seed_bookings(chain_id: uuid.UUID, store_id: uuid.UUID,
                         member_id: uuid.UUID) -> None:
    """王芳 has a haircut tomorrow at 11:00 (store time) with the first free stylist."""
    member = Principal(kind="member", id=member_id, chain_id=chain_id, role="member")
    haircut = (await stores.list_services(member, store_id))[0]
    tomorrow = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(11, 0), ZoneInfo("Asia/Shanghai"))
    body = BookingCreate(store_id=store_id, service_id=haircut.id, start=start,
                         note="demo booking")
    plan, booked_for = await booking_service.prepare_booking(member, body)
    await booking_service.create_booking(member, body,
                                         CodeSigner(settings_or_exit().secret_key), plan,
                                         booked_for)
