"""The generated `/openapi.json` is a valid OpenAPI 3.1 document and documents exactly the route table.

Validity is checked against the official OpenAPI 3.1 JSON Schema: the published iteration
https://spec.openapis.org/oas/3.1/schema/2022-10-07 (OAI/OpenAPI-Specification, `schemas/v3.1/schema.json`), of which
schemathesis (pinned in the dev tools) ships a byte-for-byte copy as `OPENAPI_31` — it was compared with the OAI
repository's file (commit 1f0334d1, 2024-10-21) and the document also passes the newer published iteration
2025-09-15. That schema leaves Schema Objects alone, so each component schema is also checked against the JSON Schema
2020-12 meta-schema (the dialect OpenAPI 3.1 uses), and every `$ref` must resolve inside the document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from services.channel_gateway.api import ROUTES, openapi_document
from services.channel_gateway.openapi import PATH_PARAM
from services.channel_gateway.routing import Audience, Route, endpoints

DOC = openapi_document()
ENDPOINTS = endpoints(ROUTES)
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def doc_path(path: str) -> str:
    return PATH_PARAM.sub(r"{\1}", path)


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{where}/{i}")


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only local references are allowed"
    node: Any = doc
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def test_the_document_is_valid_openapi_3_1() -> None:
    assert OPENAPI_31["$id"] == "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
    validator = jsonschema_rs.validator_for(OPENAPI_31)
    problems = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(DOC)]
    assert not problems, "\n".join(problems[:30])
    assert DOC["openapi"].startswith("3.1.")


def test_every_component_schema_is_valid_json_schema_2020_12() -> None:
    schemas = DOC["components"]["schemas"]
    assert schemas, "no component schemas"
    problems = {}
    for name, schema in schemas.items():
        try:
            jsonschema_rs.meta.validate(schema)
        except jsonschema_rs.ValidationError as exc:
            problems[name] = exc.message
    assert not problems, problems
    # The document as a whole compiles as one schema resource (every keyword and $ref understood).
    jsonschema_rs.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema", **DOC["components"]})


def test_every_ref_resolves() -> None:
    found = list(refs(DOC))
    assert found
    unresolved = []
    for where, ref in found:
        try:
            resolve(DOC, ref)
        except (AssertionError, KeyError, IndexError, ValueError):
            unresolved.append(f"{where}: {ref}")
    assert not unresolved, "\n".join(unresolved)


def test_operation_ids_are_unique() -> None:
    ids: dict[str, str] = {}
    for method, path, op in operations(DOC):
        op_id = op.get("operationId")
        assert op_id, f"{method} {path} has no operationId"
        assert op_id not in ids, f"operationId {op_id} of {method} {path} is also {ids[op_id]}"
        ids[op_id] = f"{method} {path}"


def test_every_registered_endpoint_is_documented_with_its_method() -> None:
    missing = []
    for method, path, route, audience in ENDPOINTS:
        op = DOC["paths"].get(doc_path(path), {}).get(method.lower())
        if op is None:
            missing.append(f"{method} {path}")
            continue
        assert op["operationId"] == route.operation_id(audience)
    assert not missing, f"registered but not in /openapi.json: {missing}"


def test_every_documented_operation_is_registered() -> None:
    registered = {(method, doc_path(path)) for method, path, _, _ in ENDPOINTS}
    extra = [f"{m} {p}" for m, p, _ in operations(DOC) if (m, p) not in registered]
    assert not extra, f"in /openapi.json but not registered: {extra}"
    assert len(list(operations(DOC))) == len(ENDPOINTS)


def endpoint_id(endpoint: tuple[str, str, Route, Audience]) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_each_operation_documents_what_the_wiring_answers(endpoint: tuple[str, str, Route, Audience]) -> None:
    method, path, route, audience = endpoint
    op = DOC["paths"][doc_path(path)][method.lower()]
    responses = set(op["responses"])
    documented_params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
    assert documented_params == set(PATH_PARAM.findall(path)), path
    if not route.allowed_in(audience):
        assert responses == {"403"}, f"{method} {path} is not in this channel: only 403 is answered"
        return
    assert str(route.status) in responses
    assert {"422", "503"} <= responses
    if route.auth != "none":
        assert "401" in responses
        scheme = "admin_token" if route.auth == "admin" else f"{audience}_session"
        assert op["security"] == [{scheme: []}]
        assert scheme in DOC["components"]["securitySchemes"]
    if PATH_PARAM.search(path):
        assert "404" in responses
    if route.rate_limit:
        assert "429" in responses
    if route.idempotency_key:
        headers = [p for p in op["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert headers and headers[0]["required"] and "409" in responses
    if route.body is not None:
        assert op["requestBody"]["required"] and {"413", "415"} <= responses
    else:
        assert "requestBody" not in op
    if route.response is not None and route.media_type is None:
        ok = op["responses"][str(route.status)]["content"]["application/json"]["schema"]
        assert resolve(DOC, ok["$ref"])["title"] == route.response.__name__
    for code, answer in op["responses"].items():
        if code.startswith(("4", "5")):
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
