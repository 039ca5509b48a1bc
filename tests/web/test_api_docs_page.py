"""The API docs page in a real browser (issue 15, item 6): Swagger UI renders from our own
origin under the docs' policy (the `context` fixture fails the test on any CSP violation
or script error), and not one request leaves the origin, "Try it out" included."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Demo


def test_the_docs_page_renders_with_no_request_leaving_the_origin(demo_server: Demo,
                                                                  context: Any) -> None:
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(f"{demo_server.base_url}/schema")
    page.wait_for_selector(".opblock-tag")
    assert page.title() == "o2o API"
    # Every operation of the document. Swagger UI draws a long list (150 tags and
    # operations or more) only as it scrolls into view: count its model, then scroll to
    # the end and wait for the last operation to be drawn.
    document = page.request.get(f"{demo_server.base_url}/schema/openapi.json").json()
    operations = [(path, method) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")]
    assert page.evaluate("window.ui.specSelectors.operations().size") == len(operations)
    last_path = operations[-1][0]
    last = page.locator(f".opblock-summary [data-path='{last_path}']").last
    for _ in range(40):
        if last.count():
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(100)
    last.wait_for()
    page.mouse.wheel(0, -10**7)

    health = page.locator(".opblock", has=page.locator("[data-path='/api/v1/health']"))
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"

    assert requests
    outside = [url for url in requests if not url.startswith(demo_server.base_url + "/")]
    assert outside == []
    assert any("/static/vendor/swagger-ui-" in url for url in requests)
