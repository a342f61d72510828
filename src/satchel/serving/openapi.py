"""The OpenAPI document of a server, with the request format built from the input schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from satchel.checks import METHODS
from satchel.schema import InputSchema
from satchel.validation import value_kind

_JSON_TYPES = {"integer": "integer", "float": "number", "boolean": "boolean",
               "string": "string", "category": "string", "datetime": "string"}


def _column(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _JSON_TYPES[kind]} if kind in _JSON_TYPES else {}
    if kind == "datetime":
        schema["format"] = "date-time"
    return schema


def _request(schema: InputSchema | None, methods: Sequence[str]) -> dict[str, Any]:
    params = {"type": "object", "properties": {"method": {"enum": list(methods)}}}
    if schema is None or not schema.is_frame:
        width = schema.n_features if schema else None
        row: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
        if width:
            row.update(minItems=width, maxItems=width)
        return {"type": "object", "properties": {
            "instances": {"type": "array", "items": row},
            "inputs": {"type": "array", "items": row}, "params": params}}
    record = {"type": "object", "required": [c.name for c in schema.columns],
              "properties": {c.name: _column(value_kind(c)) for c in schema.columns}}
    columns = {"type": "object", "required": [c.name for c in schema.columns],
               "properties": {c.name: {"type": "array", "items": _column(value_kind(c))}
                              for c in schema.columns}}
    return {"type": "object", "properties": {
        "dataframe_records": {"type": "array", "items": record},
        "dataframe_split": {"type": "object", "required": ["columns", "data"], "properties": {
            "columns": {"type": "array", "items": {"type": "string"},
                        "example": [c.name for c in schema.columns]},
            "data": {"type": "array", "items": {"type": "array"}}}},
        "instances": {"type": "array", "items": record},
        "inputs": {"oneOf": [columns, {"type": "array", "items": record}]},
        "params": params,
    }}


def openapi(schema: InputSchema | None, methods: Sequence[str] = METHODS) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``/invocations`` (the formats the server reads, and the
    ``methods`` the model offers) and the read-only routes."""
    error = {"description": "error", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error_code": {"type": "string"},
                                         "message": {"type": "string"},
                                         "problems": {"type": "array"}}}}}}
    plain = {"200": {"description": "ok"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "satchel prediction server", "version": "1"},
        "paths": {
            "/invocations": {"post": {
                "parameters": [{"name": "method", "in": "query", "required": False,
                                "schema": {"enum": list(methods)}}],
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _request(schema, methods)},
                    "text/csv": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": {"description": "predictions", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "predictions": {"type": "array"}}}}}},
                    "400": error, "413": error, "415": error, "422": error, "500": error,
                    "503": error},
            }},
            **{path: {"get": {"responses": plain}} for path in
               ("/ping", "/health", "/version", "/metadata", "/metrics")},
        },
    }
