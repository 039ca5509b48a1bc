"""The trade bill (交易账单, ``bill_type=ALL``) as WeChat Pay writes it.

A CSV in UTF-8: a header line of column names, one line per payment or refund whose every
field starts with a backtick (so spreadsheets keep long numbers as text), then the summary
header (``总交易单数,应结订单总金额,…``) and the summary line (backticked too). Amounts are
in yuan with two decimals. Columns are found by name, not position (WeChat Pay says their
order may change). The summary's count must equal the number of detail lines.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from app.core.wechatpay.models import BillLine

CHINA = timezone(timedelta(hours=8))

# The detail header of bill_type=ALL, in WeChat Pay's documented order.
ALL_COLUMNS = ("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号",
               "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类",
               "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
               "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费",
               "费率", "订单金额", "申请退款金额", "费率备注")
SUMMARY_COLUMNS = ("总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额",
                   "手续费总金额", "订单总金额", "申请退款总金额")
_NEEDED = ("交易时间", "公众账号ID", "商户号", "微信订单号", "商户订单号", "交易类型",
           "交易状态", "微信退款单号", "商户退款单号", "退款金额", "退款状态")


def fields(line: str) -> list[str]:
    """Split a backticked line: every field starts with ```, so split on ``,``` (a comma
    inside a product name stays in its field)."""
    line = line.strip()
    if not line.startswith("`"):
        return [part.strip() for part in line.split(",")]
    return [part.strip() for part in line[1:].split(",`")]


def cents(text: str) -> int:
    """Yuan with at most two decimals → fen, exactly (``ValueError`` otherwise)."""
    try:
        amount = Decimal(text.strip() or "0") * 100
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if amount != amount.to_integral_value():
        raise ValueError(f"not a whole number of fen: {text!r}")
    return int(amount)


def yuan(amount_cents: int) -> str:
    sign = "-" if amount_cents < 0 else ""
    whole, fen = divmod(abs(amount_cents), 100)
    return f"{sign}{whole}.{fen:02d}"


def parse_trade_bill(content: bytes) -> list[BillLine]:
    """The detail lines of a trade bill; ``ValueError`` when it is not one."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("the bill is not UTF-8") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the bill is empty")
    header = fields(lines[0])
    missing = [name for name in _NEEDED if name not in header]
    if missing:
        raise ValueError(f"the bill has no column {missing[0]}")
    col = {name: i for i, name in enumerate(header)}
    try:
        summary_at = next(i for i, line in enumerate(lines)
                          if fields(line)[:1] == [SUMMARY_COLUMNS[0]])
    except StopIteration:
        raise ValueError("the bill has no summary") from None
    if summary_at + 1 >= len(lines):
        raise ValueError("the bill has no summary line")
    details = lines[1:summary_at]
    try:
        count = int(fields(lines[summary_at + 1])[0])
    except ValueError:
        raise ValueError("the summary's count is not a number") from None
    if count != len(details):
        raise ValueError(f"the summary counts {count} lines, the bill has {len(details)}")
    out: list[BillLine] = []
    for number, line in enumerate(details, start=2):
        row = fields(line)
        if len(row) != len(header):
            raise ValueError(f"line {number} has {len(row)} fields, not {len(header)}")

        def get(name: str, row: list[str] = row) -> str:
            return row[col[name]] if name in col else ""

        try:
            moment = datetime.strptime(get("交易时间"), "%Y-%m-%d %H:%M:%S")
            total_text = get("订单金额") or get("应结订单金额")
            state = get("交易状态")
            out.append(BillLine(
                trade_time=moment.replace(tzinfo=CHINA), appid=get("公众账号ID"),
                mchid=get("商户号"), transaction_id=get("微信订单号"),
                out_trade_no=get("商户订单号"), trade_type=get("交易类型"),
                trade_state=state, total_cents=cents(total_text),
                refund_id=_none(get("微信退款单号")), out_refund_no=_none(get("商户退款单号")),
                refund_cents=cents(get("退款金额")), refund_status=_none(get("退款状态"))))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from exc
    return out


def _none(value: str) -> str | None:
    return value if value and value != "0" else None
