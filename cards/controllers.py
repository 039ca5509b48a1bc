"""HTTP endpoints of the cards domain: parse, guard, call one service function, return."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from app.core import idempotency
from app.core.auth import ANYONE, MANAGERS, MEMBERS, OPERATORS, STAFF
from app.core.codes import qr
from app.core.errors import PROBLEM_JSON, UnsupportedMediaType, ValidationError
from app.core.openapi import problems
from app.core.params import Caller, IdempotencyKey, Offset, RuntimeDep
from cards import export, imports, redemption, service, sync, vouchers
from cards import offline_bundle as bundles
from cards.members import member_cards, member_vouchers
from cards.public import SegmentIssuer, no_segment_issuer
from cards.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignResults,
    CardCode,
    CardIssue,
    CardOut,
    ImportInvalidOut,
    ImportOut,
    IssueIn,
    IssueJobOut,
    IssueOut,
    LedgerEntryOut,
    OfflineBundle,
    PreviewOut,
    RedeemIn,
    RedemptionListOut,
    RedemptionOut,
    StaffVoucherOut,
    SyncIn,
    SyncOut,
    TemplateCreate,
    TemplateMoneyUpdate,
    TemplateOut,
    TopUp,
    VoucherOut,
)

NO_STORE = {"Cache-Control": "no-store"}



def _wechat_lookup(request: Request[Any, Any, Any]) -> service.WechatLookup | None:
    """Which cards are in a WeChat card bag: the card bag's lookup, put in the app's state
    by create_app (``card_wechat``); none: every card answers ``wechat: null``."""
    lookup: service.WechatLookup | None = request.app.state.get("card_wechat")
    return lookup


async def _with_wechat(request: Request[Any, Any, Any], card: CardOut) -> CardOut:
    return (await service.with_wechat(_wechat_lookup(request), [card]))[0]


def _segment_issuer(request: Request[Any, Any, Any]) -> SegmentIssuer:
    """What ``POST /campaigns/{id}/issue`` with a segment_id awaits: the issuer create_app
    put in the app's state (``segment_issuer``: marketing.jobs', since cards cannot import
    marketing), like the scan handlers; without one, the default answers 409
    segment_issue_unavailable."""
    issuer: SegmentIssuer = request.app.state.get("segment_issuer") or no_segment_issuer
    return issuer


def _scans(request: Request[Any, Any, Any]) -> redemption.ScanHandlers:
    """The scan handlers create_app registered (held in the app's state)."""
    handlers: redemption.ScanHandlers = request.app.state.scans
    return handlers


class CardTemplateController(Controller):
    path = "/card-templates"
    tags = ["cards"]

    @post("", guards=[OPERATORS], summary="Create a card template")
    async def create(self, data: JSONBody[TemplateCreate], principal: Caller) -> TemplateOut:
        return await service.create_template(principal, data)

    @patch("/{template_id:uuid}", guards=[OPERATORS], responses=problems(400, 404, 409),
           summary="Change a stored-value template's online top-up terms",
           description="top_up_options (at most 12, distinct amounts; [] turns online "
                       "top-up off) and bonus_policy, each left as it is when left out, "
                       "checked as at creation. Cards keep their money; the next top-up "
                       "and charge use the new terms. Another kind of template: 409 "
                       "wrong_card_kind.")
    async def update_money(self, template_id: FromPath[uuid.UUID],
                           data: JSONBody[TemplateMoneyUpdate], principal: Caller) -> TemplateOut:
        return await service.update_template_money(principal, template_id, data)

    @get("", guards=[ANYONE], summary="The chain's card templates")
    async def list_(self, principal: Caller) -> list[TemplateOut]:
        return await service.list_templates(principal)

    @get("/{template_id:uuid}", guards=[ANYONE], summary="One card template")
    async def read(self, template_id: FromPath[uuid.UUID], principal: Caller) -> TemplateOut:
        return await service.get_template(principal, template_id)

    @post("/{template_id:uuid}/claim", guards=[MEMBERS], summary="The member claims a card",
          description="Honours Idempotency-Key.")
    async def claim(self, template_id: FromPath[uuid.UUID], principal: Caller,
                    request: Request[Any, Any, Any],
                    idempotency_key: IdempotencyKey = None) -> Response[CardOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda: service.claim_card(principal, template_id))


class CardController(Controller):
    path = "/cards"
    tags = ["cards"]

    @post("", guards=[STAFF], summary="Issue a card to a member", responses=problems(404, 409),
          description="Honours Idempotency-Key.")
    async def issue(self, data: JSONBody[CardIssue], principal: Caller,
                    request: Request[Any, Any, Any],
                    idempotency_key: IdempotencyKey = None) -> Response[CardOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda: service.issue_card(principal, data))

    @get("/{card_id:uuid}", guards=[ANYONE], summary="One card")
    async def read(self, card_id: FromPath[uuid.UUID], principal: Caller,
                   request: Request[Any, Any, Any]) -> CardOut:
        return await _with_wechat(request, await service.get_card(principal, card_id))

    @get("/{card_id:uuid}/code", guards=[MEMBERS], cache=False, responses=problems(409, 429),
         summary="A fresh dynamic code (valid 60 s, usable once)",
         description="short_code: the same code as 12 digits to read out when the camera "
                     "fails (9 and 11 digits; never a voucher's), typed at POST "
                     "/redemptions as short_code; same expiry, and using either spends "
                     "both (decision 038).")
    async def code(self, card_id: FromPath[uuid.UUID], principal: Caller,
                   runtime: RuntimeDep) -> Response[CardCode]:
        fresh = await service.card_code(principal, card_id, runtime.signer)
        return Response(fresh, headers=NO_STORE)

    @get("/{card_id:uuid}/qr.png", guards=[MEMBERS], media_type="image/png",
         responses=problems(409, 429),
         summary="QR image (PNG) of a fresh dynamic code")
    async def qr_png(self, card_id: FromPath[uuid.UUID], principal: Caller,
                     runtime: RuntimeDep) -> Response[bytes]:
        fresh = await service.card_code(principal, card_id, runtime.signer)
        return Response(qr.png(fresh.code), media_type="image/png", headers=NO_STORE)

    @get("/{card_id:uuid}/qr.svg", guards=[MEMBERS], media_type="image/svg+xml",
         responses=problems(409, 429),
         summary="QR image (SVG) of a fresh dynamic code")
    async def qr_svg(self, card_id: FromPath[uuid.UUID], principal: Caller,
                     runtime: RuntimeDep) -> Response[bytes]:
        fresh = await service.card_code(principal, card_id, runtime.signer)
        return Response(qr.svg(fresh.code), media_type="image/svg+xml",
                        headers=NO_STORE)

    @post("/{card_id:uuid}/top-ups", guards=[STAFF], summary="Top up a stored-value card",
          description="Honours Idempotency-Key.")
    async def top_up(self, card_id: FromPath[uuid.UUID], data: JSONBody[TopUp],
                     principal: Caller, request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[LedgerEntryOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, data),
            lambda: service.top_up(principal, card_id, data))

    @get("/{card_id:uuid}/ledger", guards=[ANYONE], summary="Every change of the card")
    async def ledger(self, card_id: FromPath[uuid.UUID],
                     principal: Caller) -> list[LedgerEntryOut]:
        return await service.card_ledger(principal, card_id)

    @post("/{card_id:uuid}/freeze", guards=[OPERATORS], status_code=HTTP_200_OK,
          responses=problems(409))
    async def freeze(self, card_id: FromPath[uuid.UUID], principal: Caller,
                     request: Request[Any, Any, Any]) -> CardOut:
        return await _with_wechat(request, await service.change_status(principal, card_id,
                                                                       "freeze"))

    @post("/{card_id:uuid}/unfreeze", guards=[OPERATORS], status_code=HTTP_200_OK,
          responses=problems(409))
    async def unfreeze(self, card_id: FromPath[uuid.UUID], principal: Caller,
                     request: Request[Any, Any, Any]) -> CardOut:
        return await _with_wechat(request, await service.change_status(principal, card_id,
                                                                       "unfreeze"))

    @post("/{card_id:uuid}/cancel", guards=[OPERATORS], status_code=HTTP_200_OK,
          responses=problems(409))
    async def cancel(self, card_id: FromPath[uuid.UUID], principal: Caller,
                     request: Request[Any, Any, Any]) -> CardOut:
        return await _with_wechat(request, await service.change_status(principal, card_id,
                                                                       "cancel"))


class MeCardsController(Controller):
    path = "/me/cards"
    tags = ["cards"]

    @get("", guards=[MEMBERS], summary="The calling member's cards")
    async def mine(self, principal: Caller,
                   request: Request[Any, Any, Any]) -> list[CardOut]:
        return await service.with_wechat(_wechat_lookup(request),
                                         await service.my_cards(principal))


class RedemptionController(Controller):
    path = "/redemptions"
    tags = ["redemptions"]

    @post("", guards=[STAFF], summary="Redeem a scanned code",
          responses=problems(404, 409, 410, 422, 429),
          description="Honours Idempotency-Key.")
    async def redeem(self, data: JSONBody[RedeemIn], principal: Caller, runtime: RuntimeDep,
                     request: Request[Any, Any, Any],
                     idempotency_key: IdempotencyKey = None) -> Response[RedemptionOut]:
        return await redemption.redeem(
            _scans(request), principal, data, runtime.signer,
            idempotency.call(request, principal.caller_key, idempotency_key, data))

    @post("/sync", guards=[STAFF], status_code=HTTP_200_OK, responses=problems(404),
          summary="Upload redemptions an offline scanner made",
          description="Each item is accepted, duplicate (same client_ref), conflict "
                      "(redeemed elsewhere first) or rejected. Replays change nothing. "
                      "An item is judged at its redeemed_at only inside the chain's "
                      "offline window (GET /chain; default 24 h): older, or more than "
                      "2 minutes ahead of the server, is rejected offline_window_exceeded. "
                      "An accepted item is recorded at the upload (recorded_at): the day "
                      "sheet, the stats and the 24 h reversal window count from it.")
    async def sync(self, data: JSONBody[SyncIn], principal: Caller,
                   runtime: RuntimeDep) -> SyncOut:
        return await sync.sync(principal, data, runtime.signer)

    @post("/preview", guards=[STAFF], status_code=HTTP_200_OK,
          summary="What a redemption would do, without doing it",
          responses=problems(404, 409, 410, 422, 429),
          description="The body of POST /redemptions, so no code reaches a URL or a log. "
                      "Answers 200 or the very error the redemption would give; without "
                      "action or amount_cents, the rules on them are left for the scan.")
    async def preview_post(self, data: JSONBody[RedeemIn], principal: Caller,
                           runtime: RuntimeDep, request: Request[Any, Any, Any]) -> PreviewOut:
        return await redemption.preview(_scans(request), principal, data, runtime.signer)

    @get("/preview", guards=[STAFF], summary="What a redemption would do (kept for old scanners)",
         responses=problems(404, 409, 410, 422, 429),
         description="Prefer POST /redemptions/preview: a query string lands in logs.")
    async def preview(
        self, principal: Caller, runtime: RuntimeDep, request: Request[Any, Any, Any],
        store_id: FromQuery[uuid.UUID],
        code: Annotated[str | None, QueryParameter(max_length=512)] = None,
        short_code: Annotated[str | None, QueryParameter(pattern=r"^\d{12}$")] = None,
    ) -> PreviewOut:
        body = RedeemIn(store_id=store_id, code=code, short_code=short_code)
        return await redemption.preview(_scans(request), principal, body, runtime.signer)

    @post("/{redemption_id:uuid}/reverse", guards=[MANAGERS], status_code=HTTP_200_OK,
          responses=problems(409),
          summary="Undo a redemption (within 24 h, once)",
          description="Honours Idempotency-Key: a retry gets the first answer, not 409.")
    async def reverse(self, redemption_id: FromPath[uuid.UUID], principal: Caller,
                      request: Request[Any, Any, Any],
                      idempotency_key: IdempotencyKey = None) -> Response[RedemptionOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda: redemption.reverse(_scans(request), principal, redemption_id),
            status_code=HTTP_200_OK)

    @get("", guards=[STAFF], summary="A store's redemptions between two local dates",
         responses=problems(404),
         description="The day sheet: listed by the local day the server recorded each "
                     "redemption (recorded_at, as the stats count it), with the time the "
                     "scanner claims (redeemed_at) and offline=true for uploaded offline "
                     "scans. Each row names the member (member_name, member_phone_tail), "
                     "the card (card_number, card_kind, template_name) or the campaign "
                     "(campaign_name, campaign_kind), and says whether the caller may "
                     "reverse it (reversible; not_reversible_reason: role, too_late or "
                     "already_reversed).")
    async def list_(
        self, principal: Caller, store_id: FromQuery[uuid.UUID],
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 500,
        offset: Offset = 0,
    ) -> list[RedemptionListOut]:
        return await redemption.list_for_store(principal, store_id, from_, to, limit, offset)


class CampaignController(Controller):
    path = "/campaigns"
    tags = ["vouchers"]

    @post("", guards=[OPERATORS], summary="Create a voucher campaign")
    async def create(self, data: JSONBody[CampaignCreate], principal: Caller) -> CampaignOut:
        return await vouchers.create_campaign(principal, data)

    @get("", guards=[ANYONE], summary="Campaigns (members: the active ones)")
    async def list_(self, principal: Caller) -> list[CampaignOut]:
        return await vouchers.list_campaigns(principal)

    @get("/offline-bundle", guards=[STAFF], cache=False, responses=problems(404),
         summary="A signed bundle of the store's campaigns and issued vouchers",
         description="For an offline scanner: payload is base64url of canonical JSON "
                     "(chain_id, store_id, store_timezone, generated_at, campaigns, vouchers "
                     "{voucher_id: index into campaigns}, truncated), signature is Ed25519 "
                     "over the payload bytes by the chain's key kid (GET /keys). At most "
                     "20,000 vouchers, newest first.")
    async def offline_bundle(self, principal: Caller, runtime: RuntimeDep,
                             store_id: FromQuery[uuid.UUID]) -> Response[OfflineBundle]:
        bundle = await bundles.offline_bundle(principal, store_id, runtime.signer)
        return Response(bundle, headers=NO_STORE)

    @get("/{campaign_id:uuid}/results", guards=[OPERATORS], responses=problems(404),
         summary="What a campaign did: vouchers by outcome, discount given, bills",
         description="redemption_rate = redeemed / issued (0 when none issued); "
                     "discount_cents and bill_cents sum the campaign's redemptions that "
                     "were not reversed.")
    async def results(self, campaign_id: FromPath[uuid.UUID],
                      principal: Caller) -> CampaignResults:
        return await vouchers.campaign_results(principal, campaign_id)

    @get("/{campaign_id:uuid}", guards=[ANYONE], summary="One campaign")
    async def read(self, campaign_id: FromPath[uuid.UUID], principal: Caller) -> CampaignOut:
        return await vouchers.get_campaign(principal, campaign_id)

    @post("/{campaign_id:uuid}/pause", guards=[OPERATORS], status_code=HTTP_200_OK)
    async def pause(self, campaign_id: FromPath[uuid.UUID], principal: Caller) -> CampaignOut:
        return await vouchers.set_paused(principal, campaign_id, True)

    @post("/{campaign_id:uuid}/resume", guards=[OPERATORS], status_code=HTTP_200_OK)
    async def resume(self, campaign_id: FromPath[uuid.UUID], principal: Caller) -> CampaignOut:
        return await vouchers.set_paused(principal, campaign_id, False)

    @post("/{campaign_id:uuid}/claim", guards=[MEMBERS], summary="The member claims a voucher",
          responses=problems(409),
          description="Honours Idempotency-Key.")
    async def claim(self, campaign_id: FromPath[uuid.UUID], principal: Caller,
                    runtime: RuntimeDep, request: Request[Any, Any, Any],
                    idempotency_key: IdempotencyKey = None) -> Response[VoucherOut]:
        return await idempotency.once(
            idempotency.call(request, principal.caller_key, idempotency_key, {}),
            lambda: vouchers.claim(principal, campaign_id, runtime.signer))

    @post("/{campaign_id:uuid}/issue", guards=[OPERATORS], summary="Issue vouchers to members",
          responses={**problems(400, 404, 409), 202: ResponseSpec(
              data_container=IssueJobOut, generate_examples=False,
              description="segment_id: the background job issuing to the segment "
                          "(GET /jobs/{id})")},
          description="Honours Idempotency-Key. Exactly one of member_ids (issued now, "
                      "201: each member issued or skipped on its own) and segment_id "
                      "(202 {job_id}: a background job issues to the segment's members "
                      "as they are when it runs).")
    async def issue(self, campaign_id: FromPath[uuid.UUID], data: JSONBody[IssueIn],
                    principal: Caller, runtime: RuntimeDep, request: Request[Any, Any, Any],
                    idempotency_key: IdempotencyKey = None) -> Response[IssueOut]:
        if (data.member_ids is None) == (data.segment_id is None):
            raise ValidationError("member_ids", "give exactly one of member_ids and segment_id")
        call = idempotency.call(request, principal.caller_key, idempotency_key, data)
        if data.segment_id is not None:
            segment_id = data.segment_id

            async def start_job() -> IssueJobOut:
                issuer = _segment_issuer(request)
                return IssueJobOut(job_id=await issuer(principal, campaign_id, segment_id))

            return await idempotency.once(call, start_job, status_code=HTTP_202_ACCEPTED)
        return await idempotency.once(
            call, lambda: vouchers.issue(principal, campaign_id, data, runtime.signer))


VOUCHER_QR_CACHE = {"Cache-Control": "private, max-age=86400"}


class VoucherController(Controller):
    path = "/vouchers"
    tags = ["vouchers"]

    @get("/{voucher_id:uuid}", guards=[ANYONE], responses=problems(404),
         summary="One voucher, with its code: its own member and operators only",
         description="A code spends the voucher: for a clerk or a manager every voucher "
                     "is not found (404). Staff see a member's vouchers without codes at "
                     "GET /members/{member_id}/vouchers.")
    async def read(self, voucher_id: FromPath[uuid.UUID], principal: Caller) -> VoucherOut:
        return await vouchers.get_voucher(principal, voucher_id)

    @get("/{voucher_id:uuid}/qr.png", guards=[ANYONE], media_type="image/png",
         summary="QR image (PNG) of the voucher's code (never changes: cacheable)")
    async def qr_png(self, voucher_id: FromPath[uuid.UUID], principal: Caller) -> Response[bytes]:
        voucher = await vouchers.get_voucher(principal, voucher_id)
        return Response(qr.cached_png(voucher.code), media_type="image/png",
                        headers=VOUCHER_QR_CACHE)

    @get("/{voucher_id:uuid}/qr.svg", guards=[ANYONE], media_type="image/svg+xml",
         summary="QR image (SVG) of the voucher's code (never changes: cacheable)")
    async def qr_svg(self, voucher_id: FromPath[uuid.UUID], principal: Caller) -> Response[bytes]:
        voucher = await vouchers.get_voucher(principal, voucher_id)
        return Response(qr.cached_svg(voucher.code), media_type="image/svg+xml",
                        headers=VOUCHER_QR_CACHE)

    @post("/{voucher_id:uuid}/revoke", guards=[OPERATORS], status_code=HTTP_200_OK,
          responses=problems(409),
          summary="Revoke a voucher: it will never redeem")
    async def revoke(self, voucher_id: FromPath[uuid.UUID], principal: Caller) -> VoucherOut:
        return await vouchers.revoke(principal, voucher_id)


class MeVouchersController(Controller):
    path = "/me/vouchers"
    tags = ["vouchers"]

    @get("", guards=[MEMBERS], summary="The calling member's vouchers")
    async def mine(self, principal: Caller) -> list[VoucherOut]:
        return await vouchers.my_vouchers(principal)


class MemberCardsController(Controller):
    """A member's cards and vouchers as staff see them (the till's lookup, the members
    page); beside GET /members/{id} in the stores domain, which may not import cards."""

    path = "/members/{member_id:uuid}"
    tags = ["members"]

    @get("/cards", guards=[STAFF], responses=problems(404),
         summary="A member's cards (staff), oldest first")
    async def cards(self, member_id: FromPath[uuid.UUID], principal: Caller,
                    request: Request[Any, Any, Any]) -> list[CardOut]:
        return await service.with_wechat(_wechat_lookup(request),
                                         await member_cards(principal, member_id))

    @get("/vouchers", guards=[STAFF], responses=problems(404),
         summary="A member's vouchers (staff), newest first")
    async def vouchers(self, member_id: FromPath[uuid.UUID],
                       principal: Caller) -> list[StaffVoucherOut]:
        return await member_vouchers(principal, member_id)


async def _csv_body(request: Request[Any, Any, Any]) -> bytes:
    """The CSV body, read as it streams in: text/csv only, at most imports.MAX_BYTES."""
    # Parameters other than charset (RFC 4180's ``header=present``) are fine.
    kind, params = request.content_type
    charset = params.get("charset", "").strip('"').lower()
    if kind.lower() != "text/csv" or charset not in ("", "utf-8", "utf8"):
        raise UnsupportedMediaType("send the file as text/csv in UTF-8")
    body = bytearray()
    async for chunk in request.stream():  # past the route's limit: 413
        body += chunk
    return bytes(body)


@dataclass
class CsvUpload(Operation):
    """The import's OpenAPI operation: its body is a CSV file, read by the route itself
    (streamed, with its own size limit), so Litestar cannot describe it."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True, description="The member file: a header row, then one member a row.",
            content={"text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))})


class ImportController(Controller):
    path = "/imports"
    tags = ["members"]

    @post("/members", guards=[OPERATORS], status_code=HTTP_200_OK,
          request_max_body_size=imports.MAX_BYTES,
          responses={**problems(409, 413, 415), 422: ResponseSpec(
              data_container=ImportInvalidOut, media_type=PROBLEM_JSON,
              generate_examples=False,
              description="import_invalid: the file's problems by line; nothing written")},
          operation_class=CsvUpload,
          summary="Import members and their cards' opening figures from CSV",
          description="A text/csv UTF-8 body (a BOM is fine, at most 32 MB, 200,000 rows) "
                      "with a header row: external_id (required), name, phone, birthday "
                      "(YYYY-MM-DD), card_template_id, opening_balance_cents, "
                      "opening_points, opening_visits. Every row is checked first; any "
                      "problem answers 422 import_invalid with errors [{line, field, "
                      "message}] (line 1 is the header) and writes nothing. Otherwise one "
                      "transaction: members matched by external_id are created or "
                      "updated (an empty cell changes nothing), and a card is created, "
                      "with its opening figures as one opening_balance ledger entry, "
                      "only when the member holds no card of that template. The same "
                      "file again changes nothing. dry_run=true checks and counts only. "
                      "One import at a time: another one meanwhile answers 409 conflict.")
    async def members(self, principal: Caller, request: Request[Any, Any, Any],
                      dry_run: FromQuery[bool] = False) -> ImportOut:
        data = await _csv_body(request)
        return await imports.import_members(
            principal.chain_id, data, dry_run=dry_run,
            staff_id=principal.staff_id)


class MembersExportController(Controller):
    path = "/members"
    tags = ["members"]

    @get("/export.csv", guards=[OPERATORS], media_type="text/csv",
         summary="Every member of the chain with their cards (CSV, streamed)",
         description="One row per card, the member's columns repeated (a member without "
                     "cards: one row, card columns empty): " + ", ".join(export.HEADER)
                     + ". Text that would start a spreadsheet formula gets a leading "
                     "apostrophe.")
    async def export_csv(self, principal: Caller) -> Stream:
        return Stream(export.export_members(principal.chain_id), media_type="text/csv",
                      headers={"Content-Disposition":
                               'attachment; filename="o2o-members.csv"',
                               "Cache-Control": "no-store"})


CONTROLLERS = [CardTemplateController, CardController, MeCardsController,
               RedemptionController, CampaignController, VoucherController,
               MeVouchersController, MemberCardsController, ImportController,
               MembersExportController]
