"""Errors of the WeChat card bag, with their status and code (API.md's conventions; the
codes the contract does not name are written down in docs/decisions/058)."""

from __future__ import annotations

from app.core.errors import AppError, Conflict, Unauthorized


class WechatCardExists(Conflict):
    """The template is a WeChat card already (or one is being created right now)."""

    title = "The template already has a WeChat card"


class WechatNotConfigured(Conflict):
    code = "wechat_not_configured"
    title = "The chain has no WeChat app configured (PUT /wechat-config)"


class WechatCardUnavailable(Conflict):
    """The card cannot go to the card bag: the chain has not turned the card bag on, or
    the template has no WeChat card that WeChat approved."""

    code = "wechat_card_unavailable"
    title = "This card cannot be added to the WeChat card bag"


class MemberNotLinked(Conflict):
    code = "member_not_linked"
    title = "The member has no WeChat openid"


class WechatRefused(AppError):
    """WeChat answered the call with an error of its own (an invalid field, a card type
    the account may not create...): nothing was made; the detail carries its errcode."""

    status = 502
    code = "wechat_refused"
    title = "WeChat refused the request"


class WechatUnavailable(AppError):
    status = 503
    code = "wechat_unavailable"
    title = "WeChat cannot be reached; try again"


class PushRefused(Unauthorized):
    """A push (or server check) that does not verify: a bad signature, another app's,
    outside WeChat's 5-minute window, garbage, or a chain without a message server.
    One answer for all, so a caller learns nothing of which it was."""

    title = "The push does not verify"


class PushTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"
