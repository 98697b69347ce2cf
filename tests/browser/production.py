"""The app as a deployment runs it, for browser tests: production settings, gunicorn, TLS.

`production_server` migrates the database with `flask db upgrade` and starts gunicorn on
`wsgi:app` in processes of their own, with `CHILD_INDEX_ENV=production` (so `__Host-` Secure
cookies, strict CSRF and the production headers): serving TLS itself, or on plain HTTP behind a
small TLS-terminating proxy with `TRUSTED_PROXY_HOPS=1`. Each server listens on a free port and
each caller brings its own database, so pytest-xdist workers never share one.

Certificates come from one test CA per process (`local_tls`). Chromium is told to accept the
server certificate's key (`CHROMIUM_TLS_ARGS`, which the `browser` fixture passes); other clients
(the app calling a TLS service the test starts, say) can trust `ca_file`.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# The proxy connects to gunicorn from another loopback address, so the app can tell the proxy's
# address (the connection's) from the browser's (X-Forwarded-For), and gunicorn's own
# forwarded_allow_ips (127.0.0.1 by default) does not trust the proxy: only TRUSTED_PROXY_HOPS does.
PROXY_SOURCE = "127.0.0.2"
STARTUP_SECONDS = 60
# What a deployment's process inherits besides the app's settings; nothing of the test run's own.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


@dataclass(frozen=True)
class Tls:
    """A CA of the test's own and one server certificate from it, for 127.0.0.1 and localhost."""

    ca: trustme.CA
    ca_file: Path
    cert_file: Path  # the server certificate then its chain
    key_file: Path
    spki_sha256: str  # base64 SHA-256 of the server certificate's public key, as chromium's flag wants it

    def server_context(self) -> ssl.SSLContext:
        """For a TLS server a test starts (an identity provider, say) that chromium must accept too."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@cache
def local_tls() -> Tls:
    """One per test process: chromium, launched once per test module, is told to accept this key."""
    folder = Path(tempfile.mkdtemp(prefix="child-index-tls-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    ca = trustme.CA(organization_name="Child Index tests")
    leaf = ca.issue_cert(HOST, "localhost")
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))
    key_file.chmod(0o600)
    public_key = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_key()
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Tls(ca, ca_file, cert_file, key_file, base64.b64encode(hashlib.sha256(spki).digest()).decode())


def chromium_tls_args() -> list[str]:
    """Chromium accepts the test server's certificate, and no other untrusted one.

    Chromium on Linux reads its roots from an NSS database, which would need certutil; it honours
    this key list instead (with the user data folder Playwright always gives it).
    """
    return [f"--ignore-certificate-errors-spki-list={local_tls().spki_sha256}"]


@dataclass(frozen=True)
class ProductionServer:
    url: str  # https://127.0.0.1:PORT, no trailing slash
    tls: Tls
    log: Path  # gunicorn's (and the proxy's) output: read it when a test fails


def production_environment(app: Flask, **extra: str) -> dict[str, str]:
    """The settings a deployment sets (README, Configuration), on the database of `app`, with its keys.

    `app` is the test's own app that made the data: the server must decrypt the two-factor
    secrets it stored and continue the audit chain it signed. The secret key is fresh.
    """
    database_url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://", 1)
    environment = {
        "CHILD_INDEX_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "TOTP_ENCRYPTION_KEY": app.config["TOTP_ENCRYPTION_KEY"],
        "AUDIT_CHECKPOINT_KEY": app.config["AUDIT_CHECKPOINT_KEY"],
        "IDENTITY_PROVIDER_KEYS": ",".join(app.config["IDENTITY_PROVIDER_KEYS"]),
        # A test's extract is one batch: no matching processes besides the load's own.
        "LOAD_WORKERS": "0",
    }
    environment.update(extra)
    return environment


def _process_environment(settings: Mapping[str, str]) -> dict[str, str]:
    inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
    return {**inherited, **settings}


def run_flask(settings: Mapping[str, str], *arguments: str) -> str:
    """A `flask --app wsgi` command as an operator runs it with these settings; its output.

    Fails with the command's output when the command fails.
    """
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "flask", "--app", "wsgi", *arguments],
        cwd=ROOT,
        env=_process_environment(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _listening_socket() -> socket.socket:
    """Bound and listening before gunicorn starts, so no other process can take the port meanwhile."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(128)
    return listener


def _tail(log: Path, lines: int = 60) -> str:
    if not log.exists():
        return ""
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _wait_until_healthy(url: str, tls: Tls, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until /health answers 200 over TLS, checked against the test CA."""
    context = ssl.create_default_context(cafile=str(tls.ca_file))
    host, port = url.removeprefix("https://").rsplit(":", 1)
    deadline = time.monotonic() + STARTUP_SECONDS
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{_tail(log)}")
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError as error:
            last_error = repr(error)
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url}/health in {STARTUP_SECONDS} s ({last_error}):\n{_tail(log)}")


@contextmanager
def _gunicorn(
    settings: Mapping[str, str], log: Path, tls: Tls | None, workers: int
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """gunicorn serving wsgi:app on a free port (TLS when given); the port and the process."""
    listener = _listening_socket()
    port = listener.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"fd://{listener.fileno()}",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "5",
        # gunicorn's control socket defaults to one path per user, which servers run at once would share.
        "--no-control-socket",
    ]
    if tls is not None:
        command += ["--certfile", str(tls.cert_file), "--keyfile", str(tls.key_file)]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [*command, "wsgi:app"],
            cwd=ROOT,
            env=_process_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )
    listener.close()
    try:
        yield port, process
    finally:
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown: a test has no request to finish
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.returncode != 0:
        raise RuntimeError(f"gunicorn stopped with {process.returncode}:\n{_tail(log)}")


# Headers that belong to one connection, not to the request or response the proxy passes on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)


class _ForwardingHandler(BaseHTTPRequestHandler):
    """Passes each request to the app as a reverse proxy does: Host kept, X-Forwarded-For and -Proto added."""

    protocol_version = "HTTP/1.1"
    server: _TlsProxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        forwarded_for = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = (
            f"{forwarded_for}, {self.client_address[0]}" if forwarded_for else self.client_address[0]
        )
        headers["X-Forwarded-Proto"] = "https"
        upstream = http.client.HTTPConnection(
            HOST, self.server.upstream_port, timeout=120, source_address=(PROXY_SOURCE, 0)
        )
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            content = response.read()
            passed = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}
            ]
        finally:
            upstream.close()
        self.send_response(response.status, response.reason)
        for name, value in passed:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        with self.server.log.open("a", encoding="utf-8") as output:
            output.write("proxy: " + format % args + "\n")


class _TlsProxy(ThreadingHTTPServer):
    daemon_threads = True
    upstream_port: int
    log: Path

    def __init__(self, upstream_port: int, tls: Tls, log: Path) -> None:
        super().__init__((HOST, 0), _ForwardingHandler)
        self.upstream_port, self.log = upstream_port, log
        context = tls.server_context()
        # The handshake happens in the request's thread, so one slow client cannot hold the accept loop.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """Into the log, not the test's output: a browser may close a connection it no longer wants."""
        with self.log.open("a", encoding="utf-8") as output:
            output.write(f"proxy: error on a request from {client_address[0]}:\n{traceback.format_exc()}\n")


@contextmanager
def _tls_proxy(upstream_port: int, tls: Tls, log: Path) -> Iterator[int]:
    proxy = _TlsProxy(upstream_port, tls, log)
    thread = threading.Thread(target=proxy.serve_forever, name="tls-proxy", daemon=True)
    thread.start()
    try:
        yield proxy.server_address[1]
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=10)


@contextmanager
def production_server(
    settings: Mapping[str, str], folder: Path, *, behind_proxy: bool = False, workers: int = 2
) -> Iterator[ProductionServer]:
    """`flask db upgrade`, then gunicorn on wsgi:app with these settings, over TLS, while the block runs.

    `settings` are the environment variables of the deployment (see `production_environment`).
    Behind a proxy, gunicorn serves plain HTTP and a TLS-terminating proxy in this process
    forwards to it; the settings then need TRUSTED_PROXY_HOPS=1, as a deployment behind one would.
    `folder` holds the server's log.
    """
    tls = local_tls()
    log = folder / ("gunicorn-behind-proxy.log" if behind_proxy else "gunicorn.log")
    run_flask(settings, "db", "upgrade")
    with (
        _gunicorn(settings, log, None if behind_proxy else tls, workers) as (port, process),
        _tls_proxy(port, tls, log) if behind_proxy else nullcontext(port) as public_port,
    ):
        url = f"https://{HOST}:{public_port}"
        _wait_until_healthy(url, tls, process, log)
        yield ProductionServer(url, tls, log)
