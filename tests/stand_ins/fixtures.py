"""Pytest fixtures for the stand-ins.

A test module uses one by binding it at module level (conftest.py is shared, so it is not
listed there); an assignment rather than ``from ... import wechat_server``, because ruff
reports a test's parameter of that name as redefining an unused import (F811)::

    from tests.stand_ins import fixtures as stand_ins

    wechat_server = stand_ins.wechat_server
    wechat_pay_server = stand_ins.wechat_pay_server
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stand_ins.wechat import WechatStandIn
from tests.stand_ins.wechatpay import WechatPayStandIn


@pytest.fixture
def wechat_server() -> Iterator[WechatStandIn]:
    """A fresh WeChat stand-in on a free port of 127.0.0.1 (own thread), stopped after."""
    with WechatStandIn() as server:
        yield server


@pytest.fixture
def wechat_pay_server() -> Iterator[WechatPayStandIn]:
    """A fresh WeChat Pay stand-in on a free port of 127.0.0.1 (own thread), stopped after.
    ``wechat_pay_server.new_merchant()`` makes a registered :class:`Merchant`."""
    with WechatPayStandIn() as server:
        yield server
