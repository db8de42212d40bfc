"""``spanscope keys create|list|revoke``: the API keys a ``spanscope server --auth`` accepts.

Thin: open the key store of the tracking store (the database the server runs on) and call
one ``KeyStore`` method. A new key is printed once; only its hash is stored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from spanscope.store.keys import KeyStore

__all__ = ["keys"]


def _key_store() -> KeyStore:
    from spanscope.store.keys import open_key_store
    from spanscope.tracking import get_tracking_uri

    return open_key_store(get_tracking_uri())


@click.group()
def keys() -> None:
    """Create, list and revoke the API keys of a server's store.

    The commands work on the tracking store (--tracking-uri, SPANSCOPE_TRACKING_URI), which
    must be the store the server was started on (--backend-store-uri).
    """


@keys.command("create")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), required=True,
              help="viewer reads; editor also writes traces, tags, assessments, datasets and "
                   "runs; admin also deletes and manages keys.")
@click.option("--name", metavar="TEXT", help="A label to recognise the key by in 'keys list'.")
def create_command(role: str, name: str | None) -> None:
    """Create a key and print it (this once: only its hash is stored).

    \b
    Example:
      spanscope keys create --role editor --name ci-uploader
      export SPANSCOPE_API_KEY=ssk_…   # what clients send as 'Authorization: Bearer'
    """
    store = _key_store()
    try:
        created = store.create_key(role, name=name)
    finally:
        store.close()
    click.echo(created.token)
    click.echo(f"Created {created.key.role} key {created.key.key_id}"
               f"{f' ({created.key.name})' if created.key.name else ''}. "
               "Copy it now: it is not shown again.", err=True)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or a JSON array for programs.")
def list_command(include_revoked: bool, output: str) -> None:
    """List keys (id, role, name, created, revoked), oldest first; never their secrets."""
    store = _key_store()
    try:
        found = store.list_keys(include_revoked=include_revoked)
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps([key.to_dict() for key in found], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from spanscope.cli.render import local_time

    table = Table("key id", "role", "name", "created", "revoked")
    for key in found:
        table.add_row(key.key_id, key.role.value, key.name or "", local_time(key.created_time),
                      "" if key.revoked_time is None else local_time(key.revoked_time))
    Console().print(table)
    if not found:
        click.echo("No keys: create one with 'spanscope keys create --role viewer'.", err=True)


@keys.command("revoke")
@click.argument("key_id")
def revoke_command(key_id: str) -> None:
    """Revoke a key by its id (from 'keys list'); requests with it get 401 from then on."""
    store = _key_store()
    try:
        key = store.revoke_key(key_id)
    finally:
        store.close()
    click.echo(f"Revoked {key.role} key {key.key_id}.")
