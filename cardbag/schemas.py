"""Requests and responses of the WeChat card bag's endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

# WeChat's limits (card/create's base_info): brand_name up to 12 characters, notice up to
# 16, description up to 1024; color one of its palette's names (its doc: "按色彩规范标注
# 填写Color010-Color100"; it documents no hex form, so none is sent for WeChat to refuse).
BrandName = Annotated[str, Meta(min_length=1, max_length=12)]
# Printable ASCII after the scheme: `\s` would differ between Python's regex (U+0085 and
# other Unicode spaces) and a client's reading of the OpenAPI pattern, and WeChat's image
# addresses (mmbiz.qpic.cn) are ASCII.
LogoUrl = Annotated[str, Meta(pattern=r"^https?://[!-~]+$", min_length=10, max_length=512)]
Color = Annotated[str, Meta(pattern=r"^Color(010|020|030|040|050|060|070|080|081|082|090|100)$")]
Notice = Annotated[str, Meta(min_length=1, max_length=16)]
Description = Annotated[str, Meta(min_length=1, max_length=1024)]


class WechatCardIn(Struct, forbid_unknown_fields=True):
    """What the card looks like in WeChat: ``logo_url`` is an image WeChat hosts (its
    ``/cgi-bin/media/uploadimg``), ``brand_name`` the merchant's name on the card."""

    logo_url: LogoUrl
    brand_name: BrandName
    color: Color | None = None
    notice: Notice | None = None
    description: Description | None = None


class SyncFailureOut(Struct):
    card_id: uuid.UUID
    action: Literal["activate", "update"]
    seq: int | None
    errcode: int | None
    note: str
    at: datetime
    outcome: Literal["retry", "failed"]


class SyncHealthOut(Struct):
    """The sync of the template's cards in members' card bags: ``pending`` cards wait
    for a push, ``failing`` ones saw their last push refused; ``recent_failures`` are the
    last 20 entries of the delivery log, newest first."""

    in_bag: int
    removed: int
    pending: int
    failing: int
    last_synced_at: datetime | None
    recent_failures: list[SyncFailureOut]


class WechatCardOut(Struct):
    template_id: uuid.UUID
    wechat_card_id: str | None
    status: Literal["creating", "pending", "approved", "rejected", "failed"]
    reject_reason: str | None
    brand_name: str
    logo_url: str
    color: str | None
    notice: str | None
    description: str | None
    created_at: datetime
    reviewed_at: datetime | None
    sync: SyncHealthOut


class WechatAddOut(Struct):
    """What the member page hands to ``wx.addCard``: ``cardList: [{cardId: card_id,
    cardExt: card_ext}]``."""

    card_id: str
    card_ext: str


class JsConfigOut(Struct):
    """What the page hands to ``wx.config`` (with its own ``jsApiList``)."""

    app_id: str
    timestamp: int
    nonce_str: str
    signature: str
