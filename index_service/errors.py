"""One shape for errors: a GOV.UK error page for people, one JSON shape for the API.

API errors are {"status": 400, "message": "...", "fields": {...}}; "fields" appears only for
validation errors and names each field with its messages. No error ever carries a stack
trace or the record it concerned.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template
from flask_wtf.csrf import CSRFError
from marshmallow import Schema, fields
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError
from werkzeug.wrappers import Response

from index_service.extensions import db
from index_service.guards import is_api_request

log = logging.getLogger(__name__)

CSRF_MESSAGE = "Your session expired or the form was not sent correctly. Go back, reload the page and try again."
MESSAGES = {
    400: "The request could not be understood.",
    401: "Sign in first.",
    403: "You do not have permission to do this.",
    404: "Page not found.",
    405: "That method is not allowed here.",
    413: "What you sent is too large.",
    415: "Send JSON with the header Content-Type: application/json.",
    422: "Check the details you sent.",
    429: "Too many requests. Wait a few minutes and try again.",
    500: "Sorry, there is a problem with the service. Nothing has been changed. Try again later.",
    503: "Sorry, the service is unavailable. Nothing has been changed. Try again later.",
}


class ErrorSchema(Schema):
    """The API's error shape, as the OpenAPI document describes it (flask-smorest's Api.ERROR_SCHEMA)."""

    status = fields.Integer(required=True, metadata={"description": "The HTTP status code"})
    message = fields.String(required=True, metadata={"description": "What went wrong, and what to do"})
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For a 422: each field sent wrongly, with its messages"},
    )


def _message(error: HTTPException) -> str:
    code = error.code or 500
    default = type(error).description
    if error.description and error.description != default and code != 500:
        return str(error.description)
    return MESSAGES.get(code, error.name)


def _fields(error: HTTPException) -> dict[str, Any] | None:
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if not isinstance(messages, dict):
        return None
    merged: dict[str, Any] = {}
    for location_messages in messages.values():
        if isinstance(location_messages, dict):
            merged.update(location_messages)
    return merged


def _retry_after(error: HTTPException) -> dict[str, str]:
    """A 429's or 503's Retry-After, kept when the error becomes a page or the JSON shape."""
    value = dict(error.get_headers()).get("Retry-After")
    return {"Retry-After": value} if value else {}


def error_response(error: HTTPException) -> Response | tuple[str, int, dict[str, str]]:
    code = error.code or 500
    if is_api_request():
        body: dict[str, Any] = {"status": code, "message": _message(error)}
        fields = _fields(error)
        if fields:
            body["fields"] = fields
        response = jsonify(body)
        response.status_code = code
        response.headers.update(_retry_after(error))
        return response
    return render_template("error.html", code=code, message=_message(error)), code, _retry_after(error)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, error_response)

    def unexpected(error: Exception) -> Response | tuple[str, int, dict[str, str]]:
        db.session.rollback()
        log.exception("unhandled error", exc_info=error)
        return error_response(InternalServerError())

    def csrf_failed(error: CSRFError) -> Response | tuple[str, int, dict[str, str]]:
        return error_response(BadRequest(CSRF_MESSAGE))

    app.register_error_handler(CSRFError, csrf_failed)

    app.register_error_handler(Exception, unexpected)
