"""The dashboard's overview in a real browser: the CSV honours the store filter, date
presets, the comparison with the previous period, the stores side by side, top services,
cohorts, repeat and no-show rates, and charts that say what they show."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.web.conftest import Demo, screenshot
from tests.web.test_admin_views import open_dashboard


def test_csv_export_honours_the_store_filter(demo_server: Demo, context: Any) -> None:
    """Wrong 5: the CSV ignored the dashboard's store filter."""
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.select_option("#store", demo_server.store_id)
    page.click("#apply")
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert rows, "the file has rows"
    assert {row["store_id"] for row in rows} == {demo_server.store_id}
    assert demo_server.store_id in download.suggested_filename
