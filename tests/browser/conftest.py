"""Fixtures for browser tests: a real HTTP server on committed data, and Debian's chromium.

These tests do not use the rolled-back `app` fixture of tests/conftest.py: the server answers
from another thread, on connections of its own, so the data it serves must be committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Browser, Page, sync_playwright

from index_service import create_app
from index_service.extensions import db
from tests.browser.production import chromium_tls_args
from tests.factories import make_child, make_user
from tests.threaded_server import serving_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class Practitioner:
    email: str
    totp_secret: str


@dataclass(frozen=True)
class LiveServer:
    url: str
    practitioners: tuple[Practitioner, ...]
    child_index_id: str


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app served from a thread on 127.0.0.1 (a free port) while the block runs; its URL."""
    try:
        with serving_in_thread(app, "browser-test-server") as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        with app.app_context():
            db.engine.dispose()


def migrated_browser_app(folder: Path, **config: Any) -> Flask:
    """An app on a SQLite file of its own in the folder, its schema made by the migrations."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'browser.sqlite3'}", **config})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
    return app


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on 127.0.0.1 (a free port), with Oliver Bennett and practitioners committed.

    Each test signs in as a practitioner of its own: a code is good only once per account.
    """
    app = migrated_browser_app(tmp_path_factory.mktemp("browser"))
    with app.app_context():
        users = [make_user() for _ in range(2)]
        child = make_child()
        # Read what the tests need before the session lets go of the objects.
        practitioners = tuple(Practitioner(user.email, user.totp_secret) for user in users)
        index_id = child.index_id
        db.session.commit()
        db.session.remove()  # SQLite takes BEGIN IMMEDIATE: hold no lock while the browser runs

    with serving(app) as url:
        yield LiveServer(url, practitioners, index_id)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI, but {message}", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        # Told to accept the certificate of the production harness (tests/browser/production.py) and no other.
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *chromium_tls_args()]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # The app's CSP allows only its own scripts; bypass it so the test can inject axe-core.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
