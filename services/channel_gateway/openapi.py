"""The OpenAPI 3.1 document of the public API, generated from the route table and the pydantic models the
handlers parse and render (JSON Schema 2020-12, which OpenAPI 3.1 uses as is)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from services.channel_gateway.routing import PATH_PARAM_PATTERN, PREFIX, Audience, Registry, Route

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable snake_case code (API.md lists them)")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    trace_id: str | None = Field(default=None, description="the trace of the request, to find it in Jaeger")


class ErrorBody(BaseModel):
    error: ErrorDetail


_REASONS = {
    400: "Bad request",
    401: "No valid session of this audience (`unauthenticated`)",
    403: "Not available in this channel (`not_available_in_channel`)",
    404: "Not found, or another user's (`not_found`)",
    409: "Conflict with the current state",
    413: "The request body is too large (`payload_too_large`)",
    415: "The body is not JSON",
    422: "Invalid input (`validation_error`) or refused by a rule",
    429: "Too many requests (`rate_limited`, with `Retry-After`)",
    503: "A service behind the gateway is unavailable; retry",
}


# What the wiring lets through (anything else is 404 before the handler runs).
_PATH_PARAM_SCHEMA = {"type": "string", "pattern": PATH_PARAM_PATTERN, "minLength": 1, "maxLength": 64}


def _models(registry: Registry) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for r in registry.routes:
        for m in (r.body, r.query, r.response):
            if m is not None:
                seen.setdefault(f"{m.__module__}.{m.__qualname__}", m)
    return list(seen.values())


def _errors_for(route: Route, audience: Audience) -> list[int]:
    codes = {400, 422, 503, *route.errors}
    if route.auth != "none":
        codes.add(401)
    if route.body is not None:
        codes.update((413, 415))
    if route.rate_limit is not None:
        codes.add(429)
    if route.idempotency_key:
        codes.add(409)
    if "{" in route.path or _names_a_resource(route.body):
        codes.add(404)
    return sorted(codes)


def _names_a_resource(body: type[BaseModel] | None) -> bool:
    """A body that names something by its id (`item_id`, `bank_card_id`) may name nothing, or another user's: 404."""
    return body is not None and any(name.endswith("_id") for name in body.model_fields)


def _query_parameters(model: type[BaseModel], schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def document(registry: Registry, *, title: str = "Fishbridge public API", version: str = "1.0.0") -> dict[str, Any]:
    models = _models(registry)
    inputs = [(m, "validation") for m in models] + [(m, "serialization") for m in models] + [(ErrorBody, "validation")]
    keys, top = models_json_schema(inputs, ref_template=REF)  # type: ignore[arg-type]
    defs: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        return dict(keys[(model, mode)])

    error_schema = ref(ErrorBody, "validation")
    paths: dict[str, dict[str, Any]] = {}
    for route in registry.routes:
        for audience in route.audiences:
            path = PATH_PARAM.sub(r"{\1}", PREFIX[audience] + route.path)
            op: dict[str, Any] = {
                "operationId": route.operation_id(audience),
                "summary": route.summary,
                "tags": [audience, *route.tags],
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": dict(_PATH_PARAM_SCHEMA)}
                    for n in PATH_PARAM.findall(route.path)
                ],
                "responses": {},
            }
            if route.auth == "user":
                op["security"] = [{f"{audience}_session": []}]
            elif route.auth == "admin":
                op["security"] = [{"admin_token": []}]
            else:
                op["security"] = [{}, {f"{audience}_session": []}] if audience != "admin" else [{}]
            if not route.allowed_in(audience):
                op["summary"] = f"{route.summary} (app only: 403 here)"
                op["responses"]["403"] = {
                    "description": _REASONS[403],
                    "content": {"application/json": {"schema": error_schema}},
                }
                op["security"] = [{}, {f"{audience}_session": []}]
                paths.setdefault(path, {})[route.method.lower()] = op
                continue
            if route.query is not None:
                op["parameters"] += _query_parameters(route.query, ref(route.query, "validation"), defs)
            if route.idempotency_key:
                op["parameters"].append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": True,
                        "description": "the same key and body replay the first answer; another body is 409",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                )
            if route.body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(route.body, "validation")}},
                }
            ok: dict[str, Any] = {"description": "OK" if route.status < 300 else "Created or accepted"}
            if route.media_type is not None:
                ok["content"] = {route.media_type: {"schema": {"type": "string", "contentMediaType": route.media_type}}}
            elif route.response is not None:
                ok["content"] = {"application/json": {"schema": ref(route.response, "serialization")}}
            op["responses"][str(route.status)] = ok
            for code in _errors_for(route, audience):
                op["responses"][str(code)] = {
                    "description": _REASONS.get(code, "Error"),
                    "content": {"application/json": {"schema": error_schema}},
                }
            paths.setdefault(path, {})[route.method.lower()] = op
    schemes = {
        "app_session": {"type": "http", "scheme": "bearer", "description": "a session token from POST /app/v1/session"},
        "mp_session": {"type": "http", "scheme": "bearer", "description": "a session token from POST /mp/v1/session"},
        "admin_token": {"type": "http", "scheme": "bearer", "description": "the operators' admin token"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The channel gateway: the app (`/app/v1`), the WeChat mini-program (`/mp/v1`) and "
            "operators (`/admin/v1`) over one catalog. Money is integer fen; every response carries `traceparent`.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": defs, "securitySchemes": schemes},
    }
