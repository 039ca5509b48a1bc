"""The member page and WeChat's card bag (issue 21) in a real browser, against the real
endpoints of a server in sandbox mode (its tickets are a fixed sandbox string, its WeChat
cards approved at once: the signatures are checked here with the kernel's own signers).

Inside WeChat's browser (a MicroMessenger user agent) a card offers "Add to WeChat card
bag": the page loads WeChat's JS-SDK from res.wx.qq.com (here a stand-in served in its
place by route interception, recording what the page hands it), calls wx.config with what
GET /wechat/js-config signed for the page's address, then wx.addCard with the card_id and
card_ext GET /cards/{id}/wechat-add answered; a signature WeChat refuses is asked for once
more with ?retry=true. A card already in the bag says so instead. Outside WeChat nothing
changes: no button and no SDK loaded. The member page's CSP allows WeChat's SDK hosts, the
other pages' do not."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from app.core.wechat_crypto import card_sign, jsapi_sign
from cardbag.service import SANDBOX_TICKET
from tests.stand_ins.wechat_push import WechatPusher
from tests.web.conftest import API, PHONE, Demo, assert_accessible, screenshot, set_lang
from tests.web.test_member_page import go, member_page
from tests.web.test_top_up_pages import keyed

WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) "
             "NetType/WIFI Language/zh_CN")
SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"

# WeChat's JS-SDK as the page uses it: config/ready/error and addCard. It records every
# call in window.__wx and answers addCard with the next of window.__wx.answers ('ok',
# 'cancel' or a fail errMsg), 'ok' when there is none; window.__wxAnswers, set before the
# tap that loads it, are its first answers.
FAKE_JWEIXIN = """
(() => {
  const state = { configs: [], adds: [], answers: window.__wxAnswers || [], ready: [], errors: [],
    done: false };
  window.__wx = state;
  window.wx = {
    config(c) {
      state.configs.push(JSON.parse(JSON.stringify(c)));
      setTimeout(() => { state.done = true; state.ready.splice(0).forEach((f) => f()); }, 10);
    },
    ready(f) { if (state.done) f(); else state.ready.push(f); },
    error(f) { state.errors.push(f); },
    addCard(o) {
      state.adds.push(JSON.parse(JSON.stringify({ cardList: o.cardList })));
      const answer = state.answers.shift() || 'ok';
      setTimeout(() => {
        const added = o.cardList.map((c) => ({ ...c, isSuccess: true }));
        if (answer === 'ok') o.success({ errMsg: 'addCard:ok', cardList: added });
        else if (answer === 'cancel') o.cancel({ errMsg: 'addCard:cancel' });
        else o.fail({ errMsg: answer });
      }, 20);
    },
  };
})();
"""

JS_CONFIG = {"app_id": "wx0123456789abcdef", "timestamp": 1765081200,
             "nonce_str": "n0nce", "signature": "0" * 40}


ANDROID_WECHAT_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                     "Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
                     "MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64")


@contextmanager
def in_wechat(browser: Any, user_agent: str = WECHAT_UA) -> Iterator[Any]:
    """The `context` fixture's phone, in WeChat's browser: its user agent, and WeChat's SDK
    served by the fake above (counted in sdk_loads)."""
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1, timezone_id="Asia/Shanghai",
                              user_agent=user_agent)
    ctx.add_init_script("try { if (!localStorage.getItem('o2o.lang')) "
                        "localStorage.setItem('o2o.lang', 'en'); } catch (e) {}")
    ctx.set_default_timeout(10_000)
    errors: list[str] = []
    ctx.on("weberror", lambda error: errors.append(str(error.error)))
    ctx.on("console", lambda message: errors.append(message.text)
           if "Content Security Policy" in message.text else None)
    ctx.sdk_loads = []

    def sdk(route: Any) -> None:
        ctx.sdk_loads.append(route.request.url)
        route.fulfill(status=200, content_type="text/javascript", body=FAKE_JWEIXIN)

    ctx.route("https://res*.wx.qq.com/**", sdk)
    yield ctx
    ctx.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


@pytest.fixture
def wechat_context(browser: Any) -> Iterator[Any]:
    with in_wechat(browser) as ctx:
        yield ctx


class FakeApi:
    """The card bag's two member endpoints answered by the test (until they are served):
    what the page asked for, and what it gets."""

    def __init__(self, card_ext: str, first_status: int = 200) -> None:
        self.card_ext, self.first_status = card_ext, first_status
        self.config_urls: list[str] = []
        self.adds: list[dict[str, list[str]]] = []

    def js_config(self, route: Any) -> None:
        self.config_urls.append(parse_qs(urlsplit(route.request.url).query)["url"][0])
        route.fulfill(status=200, content_type="application/json", body=json.dumps(JS_CONFIG))

    def wechat_add(self, route: Any) -> None:
        self.adds.append(parse_qs(urlsplit(route.request.url).query))
        if self.first_status != 200 and len(self.adds) == 1:
            route.fulfill(status=self.first_status, content_type="application/problem+json",
                          body=json.dumps({"status": self.first_status, "title": "Conflict",
                                           "code": "wechat_card_unavailable"}))
            return
        retry = "retry" in self.adds[-1]
        route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "card_id": "pFS7Fjg8kV1IdDz01r4SQwMkuCKc",
            "card_ext": self.card_ext.replace("SIG", "fresh" if retry else "stale")}))

    def install(self, page: Any) -> None:
        page.route("**/api/v1/wechat/js-config?*", self.js_config)
        page.route("**/api/v1/cards/*/wechat-add*", self.wechat_add)


def _card_ext(code: str) -> str:
    return json.dumps({"code": code, "openid": "demo-member-1", "timestamp": "1765081200",
                       "nonce_str": "abc", "signature": "SIG"})


def _a_card(demo: Demo) -> dict[str, Any]:
    cards = demo.api("GET", "/me/cards", demo.member_token)
    return dict(next(c for c in cards if c["status"] == "active"))


APP_ID = "wxd0e1m2o3c4a5r6d7"
TOKEN = "o2oToken2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 letters and digits


def card_bag_on(demo: Demo, template_id: str) -> str:
    """The demo chain's card bag switched on (with its message server) and the template a
    WeChat card (approved at once in sandbox mode): its WeChat card id."""
    demo.api("PUT", "/wechat-config", demo.operator_token, json={
        "app_id": APP_ID, "app_secret": "demo-app-secret", "server_token": TOKEN,
        "encoding_aes_key": AES_KEY, "card_bag": True})
    path = f"/card-templates/{template_id}/wechat-card"
    response = httpx.post(demo.base_url + API + path, timeout=10, json={
        "logo_url": "http://mmbiz.qpic.cn/mmbiz/logo/0", "brand_name": "丝域养发"},
        headers={"Authorization": f"Bearer {demo.operator_token}"})
    assert response.status_code in (201, 409), response.text  # 409: made by another test
    card = demo.api("GET", path, demo.operator_token)
    assert card["status"] == "approved", card
    return str(card["wechat_card_id"])


class Requests:
    """The member endpoints' requests the page made, as (path, query)."""

    def __init__(self, page: Any) -> None:
        self.seen: list[tuple[str, dict[str, list[str]]]] = []
        page.on("request", self.record)

    def record(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.path.startswith(("/api/v1/wechat/", "/api/v1/cards/")) and (
                "wechat" in parts.path):
            self.seen.append((parts.path, parse_qs(parts.query)))


def assert_signed(ext: str, wechat_card_id: str, number: str) -> None:
    """The card_ext the page handed to wx.addCard is the server's, signed with the ticket."""
    fields = json.loads(ext)
    assert fields["code"] == number and fields["openid"] == "demo-member-1", fields
    assert fields["signature"] == card_sign(SANDBOX_TICKET, fields["code"], fields["openid"],
                                            fields["timestamp"], fields["nonce_str"],
                                            wechat_card_id)


def test_inside_wechat_the_card_goes_to_the_card_bag(demo_server: Demo,
                                                     wechat_context: Any) -> None:
    card = _a_card(demo_server)
    wechat_card_id = card_bag_on(demo_server, card["template_id"])
    page = member_page(demo_server, wechat_context)
    seen = Requests(page)
    # The cards list offers it under the tile; nothing is loaded before a tap.
    expect(page.locator(f"[data-add-to-bag='{card['id']}']")).to_be_visible()
    assert wechat_context.sdk_loads == []
    go(page, f"#card/{card['id']}", "[data-add-to-bag]")
    assert_accessible(page, "card with the card bag button (en)")
    button = page.locator("[data-add-to-bag]")
    expect(button).to_have_text("Add to WeChat card bag")
    screenshot(page, "member-card-bag")
    button.click()
    expect(page.locator("[data-card-bag=added]")).to_contain_text("Added to your WeChat card bag")

    assert wechat_context.sdk_loads == [SDK]
    state = page.evaluate("window.__wx")
    # wx.config: what the server signed with the jsapi ticket for the page's address
    # without its hash.
    url = f"{demo_server.base_url}/m/?chain={demo_server.chain_id}"
    assert seen.seen[0] == ("/api/v1/wechat/js-config", {"url": [url]})
    [config] = state["configs"]
    assert config == {"debug": False, "appId": APP_ID, "timestamp": config["timestamp"],
                      "nonceStr": config["nonceStr"], "signature": config["signature"],
                      "jsApiList": ["addCard"]}
    assert config["signature"] == jsapi_sign(SANDBOX_TICKET, config["nonceStr"],
                                             str(config["timestamp"]), url)
    # wx.addCard: the WeChat card and the cardExt the server signed with the wx_card ticket.
    [add] = state["adds"]
    [item] = add["cardList"]
    assert item["cardId"] == wechat_card_id
    assert_signed(item["cardExt"], wechat_card_id, card["number"])
    assert seen.seen[1:] == [(f"/api/v1/cards/{card['id']}/wechat-add", {})]


def test_a_refused_signature_is_asked_for_once_more(demo_server: Demo,
                                                    wechat_context: Any) -> None:
    card = _a_card(demo_server)
    wechat_card_id = card_bag_on(demo_server, card["template_id"])
    page = member_page(demo_server, wechat_context, lang="zh")
    seen = Requests(page)
    go(page, f"#card/{card['id']}", "[data-add-to-bag]")
    expect(page.locator("[data-add-to-bag]")).to_have_text("添加到微信卡包")
    assert_accessible(page, "card with the card bag button (zh)")
    # WeChat refuses the first signature (a ticket it has just replaced): the page asks the
    # server again with ?retry=true, once, and hands WeChat the fresh one.
    page.evaluate("window.__wxAnswers = ['addCard:fail, invalid signature']")
    page.click("[data-add-to-bag]")
    expect(page.locator("[data-card-bag=added]")).to_contain_text("已添加到微信卡包")
    adds = page.evaluate("window.__wx.adds")
    assert len(adds) == 2
    for add in adds:
        assert_signed(add["cardList"][0]["cardExt"], wechat_card_id, card["number"])
    path = f"/api/v1/cards/{card['id']}/wechat-add"
    assert [s for s in seen.seen if s[0] == path] == [(path, {}), (path, {"retry": ["true"]})]

    # Refused twice: said, not asked a third time; the button stays for a later tap.
    go(page, "#cards", "[data-card]")
    go(page, f"#card/{card['id']}", "[data-add-to-bag]")
    page.evaluate("window.__wx.answers.push('addCard:fail, invalid signature', "
                  "'addCard:fail, invalid signature')")
    page.click("[data-add-to-bag]")
    expect(page.locator("[data-card-bag=add] [role=status]")).to_have_text(
        "没能添加到微信卡包，请稍后再试")  # noqa: RUF001
    expect(page.locator("[data-add-to-bag]")).to_be_enabled()
    assert [s for s in seen.seen if s[0] == path][2:] == [(path, {}), (path, {"retry": ["true"]})]
    # Configured once for the page (its address did not change).
    assert len(page.evaluate("window.__wx.configs")) == 1


@pytest.mark.parametrize(("user_agent", "signs"), [(WECHAT_UA, "landing"),
                                                  (ANDROID_WECHAT_UA, "current")])
def test_wx_config_signs_the_address_wechat_checks(demo_server: Demo, browser: Any,
                                                   user_agent: str, signs: str) -> None:
    """Entered through WeChat's login redirect (?code=), the page drops the code from its
    address; WeChat's iOS browser still checks the signature against the address the page
    was entered at, Android's against the current one."""
    card = _a_card(demo_server)
    card_bag_on(demo_server, card["template_id"])
    with in_wechat(browser, user_agent) as ctx:
        page = ctx.new_page()
        seen = Requests(page)
        current = f"{demo_server.base_url}/m/?chain={demo_server.chain_id}"
        landing = f"{current}&code=sandbox:demo-member-1"
        page.goto(f"{landing}#card/{card['id']}")
        page.wait_for_selector("[data-add-to-bag]")
        assert page.evaluate("location.href.split('#')[0]") == current
        page.click("[data-add-to-bag]")
        expect(page.locator("[data-card-bag=added]")).to_have_count(1)
        config = page.evaluate("window.__wx.configs[0]")
    url = landing if signs == "landing" else current
    assert seen.seen[0] == ("/api/v1/wechat/js-config", {"url": [url]})
    assert config["signature"] == jsapi_sign(SANDBOX_TICKET, config["nonceStr"],
                                             str(config["timestamp"]), url)


def test_a_cancel_and_an_unavailable_card_are_said(demo_server: Demo,
                                                   wechat_context: Any) -> None:
    card = _a_card(demo_server)
    fake = FakeApi(_card_ext(card["number"]), first_status=409)
    page = member_page(demo_server, wechat_context)
    fake.install(page)
    go(page, f"#card/{card['id']}", "[data-add-to-bag]")
    page.click("[data-add-to-bag]")
    note = page.locator("[data-card-bag-note=wechat_card_unavailable]")
    expect(note).to_have_text("This card cannot go to WeChat\u2019s card bag yet")
    # Said in the list too for this visit, instead of a button that would fail again.
    go(page, "#cards", "[data-card]")
    expect(page.locator("[data-card-bag-note]")).to_have_count(1)
    expect(page.locator(f"[data-add-to-bag='{card['id']}']")).to_have_count(0)
    assert_accessible(page, "cards with a card that cannot go to the bag (en)")
    # A new visit asks again; the member cancels in WeChat's sheet.
    page.evaluate("sessionStorage.clear()")
    go(page, f"#card/{card['id']}", "[data-add-to-bag]")
    page.evaluate("window.__wx.answers.push('cancel')")
    page.click("[data-add-to-bag]")
    expect(page.locator("[data-card-bag=add] [role=status]")).to_have_text(
        "Not added: tap again whenever you want it in the card bag")
    expect(page.locator("[data-add-to-bag]")).to_be_enabled()
    # Another refusal (not the signature): said, and the next tap configures afresh.
    page.evaluate("window.__wx.answers.push('addCard:fail, permission denied')")
    page.click("[data-add-to-bag]")
    expect(page.locator("[data-card-bag=add] [role=status]")).to_have_text(
        "Could not add it to WeChat\u2019s card bag: try again later")
    assert len(fake.adds) == 3 and len(page.evaluate("window.__wx.configs")) == 1
    page.click("[data-add-to-bag]")
    expect(page.locator("[data-card-bag=added]")).to_have_count(1)
    assert len(page.evaluate("window.__wx.configs")) == 2


def test_a_card_in_the_bag_says_so(demo_server: Demo, wechat_context: Any) -> None:
    card = _a_card(demo_server)

    def in_bag(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["wechat"] = {"in_card_bag": True, "synced_at": "2026-12-07T05:00:00Z"}
        route.fulfill(response=response, body=json.dumps(body))

    page = member_page(demo_server, wechat_context)
    page.route(f"**/api/v1/cards/{card['id']}", in_bag)
    go(page, f"#card/{card['id']}", "[data-card-bag=in]")
    expect(page.locator("[data-card-bag=in]")).to_have_text("✓ In your WeChat card bag")
    expect(page.locator("[data-add-to-bag]")).to_have_count(0)
    assert_accessible(page, "card in the card bag (en)")
    set_lang(page, "zh")
    expect(page.locator("[data-card-bag=in]")).to_have_text("✓ 已在你的微信卡包中")
    assert wechat_context.sdk_loads == []


def test_a_card_wechat_took_into_the_bag_says_so(demo_server: Demo,
                                                 wechat_context: Any) -> None:
    """The whole way round: the member adds the card, WeChat tells the server (an encrypted
    user_get_card push to the callback), and the card says it is in the bag."""
    from cards.schemas import CardOut

    if "wechat" not in CardOut.__struct_fields__:
        pytest.skip("needs the sync's CardOut.wechat (branch i21-sync)")
    template = demo_server.api("POST", "/card-templates", demo_server.operator_token, json={
        "name": f"E2E 卡包 {uuid.uuid4().hex[:6]}", "kind": "membership", "claimable": True})
    card = keyed(demo_server, f"/card-templates/{template['id']}/claim", {})
    wechat_card_id = card_bag_on(demo_server, template["id"])
    page = member_page(demo_server, wechat_context)
    go(page, f"#card/{card['id']}", "[data-add-to-bag]")
    page.click("[data-add-to-bag]")
    expect(page.locator("[data-card-bag=added]")).to_have_count(1)

    pusher = WechatPusher(demo_server.base_url, demo_server.chain_id, TOKEN, AES_KEY, APP_ID)
    push = pusher.build("user_get_card", from_user="demo-member-1", CardId=wechat_card_id,
                        IsGiveByFriend=0, UserCardCode=card["number"], FriendUserName="",
                        OuterId=0, OldUserCardCode="", OuterStr="", IsRestoreMemberCard=0,
                        IsRecommendByFriend=0, UnionId="")
    answer = pusher.send_sync(push)
    assert (answer.status_code, answer.text) == (200, "success")
    go(page, "#cards", f"[data-card='{card['id']}']")
    go(page, f"#card/{card['id']}", "[data-card-bag=in]")
    expect(page.locator("[data-card-bag=in]")).to_have_text("✓ In your WeChat card bag")
    expect(page.locator("[data-add-to-bag]")).to_have_count(0)


def test_the_card_face_in_wechat_opens_the_cards_live_code(demo_server: Demo,
                                                           wechat_context: Any) -> None:
    """The cell on the card in WeChat's bag opens /m/?chain=…&wx_template=… (WeChat adds
    its own parameters): the member's card of that template, at its live QR, signed in
    already or through WeChat's login redirect (which the page drops from the address)."""
    card = _a_card(demo_server)
    face = (f"{demo_server.base_url}/m/?chain={demo_server.chain_id}"
            f"&wx_template={card['template_id']}&card_id=pWx0123&encrypt_code=abc"
            "&openid=demo-member-1")
    page = wechat_context.new_page()
    page.goto(f"{face}&code=sandbox:demo-member-1")
    page.wait_for_selector("#card-qr canvas")
    assert page.evaluate("location.hash") == f"#card/{card['id']}"
    # Back on the cards list, it stays there (the face opened the card once).
    go(page, "#cards", "[data-card]")
    page.wait_for_timeout(300)
    assert page.evaluate("location.hash") == "#cards"
    # Signed in already.
    page.goto(face)
    page.wait_for_selector("#card-qr canvas")
    assert page.evaluate("location.hash") == f"#card/{card['id']}"


def test_outside_wechat_nothing_changes(demo_server: Demo, context: Any) -> None:
    loads: list[str] = []

    def sdk(route: Any) -> None:
        loads.append(route.request.url)
        route.abort()

    context.route("https://res*.wx.qq.com/**", sdk)
    card = _a_card(demo_server)
    page = member_page(demo_server, context)
    go(page, f"#card/{card['id']}", "#card-qr canvas")
    expect(page.locator("[data-add-to-bag], [data-card-bag]")).to_have_count(0)
    go(page, "#cards", "[data-card]")
    expect(page.locator("[data-add-to-bag], [data-card-bag]")).to_have_count(0)
    assert loads == []


def test_only_the_member_page_may_run_wechats_sdk(demo_server: Demo) -> None:
    for path, allowed in (("/m/", True), ("/admin/", False), ("/clerk/", False), ("/", False)):
        csp = httpx.get(demo_server.base_url + path, timeout=10).headers["content-security-policy"]
        script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
        expected = ("script-src 'self' https://res.wx.qq.com https://res2.wx.qq.com" if allowed
                    else "script-src 'self'")
        assert script_src == expected, (path, csp)
        assert "img-src 'self' blob: data:" in csp  # WeChat's usage beacon stays refused
