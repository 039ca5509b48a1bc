"""The OpenAPI document lists the contract's endpoints with their schemas."""

from __future__ import annotations

import httpx

FOUNDATION = {
    ("post", "/api/v1/auth/staff/login"), ("post", "/api/v1/auth/member/wechat"),
    ("get", "/api/v1/me"), ("patch", "/api/v1/me"), ("put", "/api/v1/wechat-config"),
    ("post", "/api/v1/stores"), ("get", "/api/v1/stores"), ("get", "/api/v1/stores/{store_id}"),
    ("patch", "/api/v1/stores/{store_id}"), ("post", "/api/v1/staff"), ("get", "/api/v1/staff"),
    ("post", "/api/v1/members"), ("get", "/api/v1/members"),
    ("get", "/api/v1/members/{member_id}"), ("post", "/api/v1/stores/{store_id}/services"),
    ("get", "/api/v1/stores/{store_id}/services"), ("post", "/api/v1/stores/{store_id}/resources"),
    ("get", "/api/v1/stores/{store_id}/resources"), ("get", "/api/v1/health"),
}


async def test_openapi_lists_every_foundation_endpoint_with_schemas(
        client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    served = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert served >= FOUNDATION
    store_create = schema["paths"]["/api/v1/stores"]["post"]
    assert store_create["requestBody"]["content"]["application/json"]["schema"]
    assert "201" in store_create["responses"]
    components = schema["components"]["schemas"]
    assert {"StoreCreate", "StoreOut", "StaffLoginOut", "MemberOut"} <= set(components)
    assert "BearerToken" in schema["components"]["securitySchemes"]
    assert "Idempotency-Key" in {p["name"] for p in
                                 schema["paths"]["/api/v1/members"]["post"]["parameters"]}
