"""Command line: `flask --app wsgi sources client add | list | revoke`."""

from __future__ import annotations

import click
from sqlalchemy import select

from index_service.extensions import db
from index_service.oauth.models import OAuthClient
from index_service.oauth.operations import ClientError, client_by_id, register_client, revoke_client
from index_service.scopes import SCOPES, Scope
from index_service.sources.registry import source_named

clients = click.Group("client", help="OAuth2 clients of source systems, which submit loads over the API.")


@clients.command("add")
@click.argument("source_name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=[Scope.LOADS_WRITE.value],
    show_default=True,
    type=click.Choice([scope.value for scope in SCOPES]),
    help="A scope to grant; repeat for more.",
)
def clients_add(source_name: str, scopes: tuple[str, ...]) -> None:
    """Register a client for a data source; its secret is shown now and never again."""
    source = source_named(source_name)
    if source is None:
        raise click.ClickException(f"No data source is called {source_name!r}; see: sources list")
    try:
        client, secret = register_client(source, scopes)
    except ClientError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Added a client for {source.name} (source id {source.id}) with scope {client.scope}")
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Give both to the source system's operators now: the secret is not stored and cannot be shown again.")


@clients.command("list")
def clients_list() -> None:
    """List the clients, live and revoked (never their secrets)."""
    for client in db.session.scalars(select(OAuthClient).order_by(OAuthClient.id)):
        state = f"revoked {client.revoked_at:%Y-%m-%d %H:%M}" if client.revoked_at else "live"
        click.echo(f"{client.client_id}  {client.source.name}  ({client.scope}; {state})")


@clients.command("revoke")
@click.argument("client_id")
def clients_revoke(client_id: str) -> None:
    """Revoke a client and every token it holds, at once."""
    client = client_by_id(client_id)
    if client is None:
        raise click.ClickException(f"No client has the id {client_id!r}; see: sources client list")
    try:
        revoke_client(client)
    except ClientError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Revoked client {client.client_id} of {client.source.name} and its tokens")
