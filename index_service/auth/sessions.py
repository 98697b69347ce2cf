"""Server-side sessions: the browser holds a random id; everything else is in the database.

Stored centrally so that every worker sees the same sessions and a session can be ended at
once (sign-out, account closed). Ended after a spell of idleness and at an absolute limit
counted from the session's first creation, and given a new id at each step of sign-in.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, current_app
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, or_, select, update
from werkzeug.datastructures import CallbackDict

from index_service.auth.models import FailedAttempt, UserSession
from index_service.database import utcnow
from index_service.extensions import db

LAST_SEEN_GRANULARITY = timedelta(seconds=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, row: UserSession | None = None) -> None:
        def on_update(session: ServerSession) -> None:
            session.modified = True

        super().__init__(initial or {}, on_update)
        self.row = row
        self.token: str | None = None
        self.modified = False
        self.expired_user_id: int | None = None
        self._renew = False
        self._end = False

    def renew(self) -> None:
        """Give the session a new id (at each sign-in step), keeping its contents."""
        self._renew = True
        self.modified = True

    def end(self) -> None:
        """End the session now (sign-out); anything set afterwards, such as a message, starts a new one."""
        self._end = True
        self.clear()


def end_sessions_for_user(user_id: int) -> int:
    """End every session of a user at once (account closed); returns how many were open."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge_stale_rows() -> tuple[int, int]:
    """Remove sessions that can never be used again, and failed attempts past their window.

    Meant for a daily job: `flask --app wsgi sessions purge`.
    """
    config = current_app.config
    now = utcnow()
    idle_before = now - timedelta(minutes=config["SESSION_IDLE_MINUTES"])
    started_before = now - timedelta(hours=config["SESSION_ABSOLUTE_HOURS"])
    sessions = db.session.execute(
        delete(UserSession).where(
            or_(
                UserSession.ended_at.is_not(None),
                UserSession.last_seen_at < idle_before,
                UserSession.created_at < started_before,
            )
        )
    )
    attempts = db.session.execute(
        delete(FailedAttempt).where(FailedAttempt.at < now - timedelta(minutes=config["LOCKOUT_WINDOW_MINUTES"]))
    )
    return int(getattr(sessions, "rowcount", 0) or 0), int(getattr(attempts, "rowcount", 0) or 0)


class DatabaseSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token:
            return ServerSession()
        row = db.session.scalar(
            select(UserSession).where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
        )
        if row is None:
            return ServerSession()
        now = utcnow()
        idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
        absolute = timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"])
        if now - row.last_seen_at > idle or now - row.created_at > absolute:
            row.ended_at = now
            session = ServerSession()
            session.expired_user_id = row.user_id if row.data.get("signed_in") else None
            return session
        # A deep copy: a value changed in place (flash() appends to a list) must not also change the
        # row's loaded value, or the row would compare equal to the session and the change never be written.
        session = ServerSession(copy.deepcopy(row.data), row)
        session.token = token
        return session

    def persist(self, session: ServerSession) -> None:
        """Write the session to the database in the request's transaction (before commit)."""
        now = utcnow()
        previous = session.row
        if previous is not None and (session._end or session._renew):
            previous.ended_at = now
            session.row = None
            session.token = None
        if session.row is None:
            if not session:
                return
            renewed = previous is not None and session._renew and not session._end
            created_at = previous.created_at if renewed and previous is not None else now
            token = secrets.token_urlsafe(32)
            session.row = UserSession(token_hash=_hash(token), created_at=created_at, last_seen_at=now)
            session.token = token
            db.session.add(session.row)
        row = session.row
        if session.modified or row.data != dict(session):
            row.data = dict(session)
        user_id = session.get("user_id") or session.get("pending_user_id")
        if row.user_id != user_id:
            row.user_id = user_id
        if now - row.last_seen_at > LAST_SEEN_GRANULARITY:
            row.last_seen_at = now

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        options = {
            "domain": None,
            "path": "/",
            "secure": self.get_cookie_secure(app),
            "httponly": True,
            "samesite": self.get_cookie_samesite(app),
        }
        if session.token is None:
            if session._end or session.expired_user_id is not None:
                response.delete_cookie(name, **options)
            return
        response.vary.add("Cookie")
        response.set_cookie(name, session.token, **options)
