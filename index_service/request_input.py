"""What a request may carry: its JSON body, its query and form text and its numbers in the URL,
each checked in one place, before any view uses them.

No database, hash or parser further in can take everything HTTP can send: a JSON body nested
thousands deep exhausts the parser's recursion, a lone surrogate (a JSON escape such as
\\ud800) cannot be encoded as UTF-8 to be stored or hashed, PostgreSQL refuses a NUL character
in text, a number such as 1e400 overflows to infinity, and an id beyond the database's integer
type makes the query itself fail. Each is refused here with a 400 saying what is wrong (in the
API's error shape, or as the page's error), or, for an id in the URL, is no route (a 404).

JSON is read only by parse_json: request.get_json goes through the app's JSON provider, and the
API's arguments through request.get_json (ApiBlueprint). Text in the path, query string and form
is checked before the view by refuse_unstorable_text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, ValidationError

MAX_JSON_DEPTH = 32
# The largest id a URL may name: PostgreSQL's INTEGER, the type of every id column reached by URL.
LARGEST_ID = 2**31 - 1
# JSON integers beyond 64 bits are not portable (RFC 7493) and fit no column here.
LARGEST_JSON_INTEGER = 2**63 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InputRefused(ValueError):
    """Input that nothing further in could take; the message says what to put right."""


def _unstorable(text: str) -> str | None:
    """What makes the text impossible to store, if anything."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character (U+0000), which text may not contain"
    return f"a lone surrogate (U+{ord(found.group()):04X}), which is not a character"


def _where(path: tuple[str | int, ...]) -> str:
    """Where in the body, as $.name[0], cut short so a message never floods."""
    where = "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return where if len(where) <= 80 else where[:79] + "\u2026"


def _too_large(value: Any) -> bool:
    """1e400 reads as infinity; an integer beyond 64 bits fits no column."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > LARGEST_JSON_INTEGER


def _check_document(document: Any) -> None:
    """Walks the parsed document without recursion: depth, text and numbers."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise InputRefused(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
        if isinstance(value, dict):
            for key, item in value.items():
                problem = _unstorable(key)
                if problem:
                    raise InputRefused(f"A key in {_where(path)} contains {problem}.")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, str):
            problem = _unstorable(value)
            if problem:
                raise InputRefused(f"The text at {_where(path)} contains {problem}.")
        elif _too_large(value):
            raise InputRefused(f"The number at {_where(path)} is too large.")


def _refuse_constant(name: str) -> Any:
    raise InputRefused(f"{name} is not a JSON number.")


def _integer(text: str) -> int:
    """An integer literal, refused before int() when its digits alone put it beyond 64 bits."""
    if len(text.lstrip("-")) > len(str(LARGEST_JSON_INTEGER)):
        raise InputRefused("A number in the body is too large.")
    return int(text)


def parse_json(data: str | bytes) -> Any:
    """A JSON document from a request, or InputRefused saying why it cannot be taken."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise InputRefused("The JSON body is not UTF-8.") from None
    try:
        document = json.loads(data, parse_constant=_refuse_constant, parse_int=_integer)
    except RecursionError:
        raise InputRefused(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except InputRefused:
        raise
    except ValueError as error:
        raise InputRefused(f"The body is not valid JSON: {error}") from None
    _check_document(document)
    return document


class StrictJSONProvider(DefaultJSONProvider):
    """The app's JSON: written as Flask writes it, read only through parse_json."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)


class IndexRequest(Request):
    """A request whose JSON, when refused, says why (Flask's own says only "Bad Request")."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, InputRefused):
            raise BadRequest(str(e)) from e
        return super().on_json_loading_failed(e)  # not JSON at all: 415


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: an id the database can hold, or no match (a 404), never a query that fails."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", LARGEST_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        if len(value) > len(str(self.max)):  # before int(), which refuses thousands of digits with an error
            raise ValidationError()
        return super().to_python(value)


class _JSONBodyParser(FlaskParser):
    """webargs' parser, reading a JSON body through request.get_json (so parse_json) instead of its own json.loads."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            return missing
        return req.get_json()


class ApiBlueprint(Blueprint):
    """flask-smorest's Blueprint, whose arguments read JSON only through parse_json; every API blueprint is one."""

    ARGUMENTS_PARSER = _JSONBodyParser()


def refuse_unstorable_text() -> None:
    """Before the view: the path, the query string and a urlencoded form, with no NUL or lone surrogate in them.

    Runs after the route's guard, so it tells a caller what is wrong only with a request they may make.
    A multipart body is an upload, read by its view under its own size limit, and its file by the extract reader.
    """
    form = request.form.items(multi=True) if request.mimetype == "application/x-www-form-urlencoded" else []
    for where, pairs in (
        ("the address", [("path", request.path)]),
        ("the query string", request.args.items(multi=True)),
        ("the form", form),
    ):
        for name, value in pairs:
            problem = _unstorable(name) or _unstorable(value)
            if problem:
                raise BadRequest(f"A value in {where} contains {problem}.")


def init_app(app: Flask) -> None:
    """Set the request class, JSON reader and id converter; call before any route is added."""
    app.request_class = IndexRequest
    app.json = StrictJSONProvider(app)
    app.url_map.converters["int"] = IdConverter
