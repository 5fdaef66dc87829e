"""``router keys ...``: API keys for the service (``router.access``).

    router keys create NAME --scope chat --scope feedback [--rpm 60] [--tpm 100000] [--json]
    router keys list [--json]               ids, names, scopes, limits, created, revoked
    router keys revoke KEY_ID               refused from the next request, on every replica

Keys live where the service reads them: the Redis hash ``<ROUTER_REDIS_PREFIX>:api-keys`` when
``ROUTER_REDIS_URL`` is set, else ``ROUTER_KEYS_PATH`` (by default
``<ROUTER_DATA_DIR>/api-keys.json``).
``create`` prints the token once; only its sha256 is stored. ``keys_app`` is a typer sub-app
for the main CLI to mount; commands take settings from ``ctx.obj.settings`` when the context
carries one, else from ``get_settings()``.

Exit codes: 0 done; 2 an error (unknown key id, unreachable or unreadable key store).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from router.access.keys import ApiKey, Limits, Scope, issue
from router.cli.output import err, exit_on_router_error, out, settings_or_exit
from router.settings import get_settings

if TYPE_CHECKING:  # the key store imports redis: imported where a command needs it
    from router.access.keystore import KeyStore

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Create, list and revoke API keys.", no_args_is_help=True, rich_markup_mode=None
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _store(ctx: typer.Context) -> KeyStore:
    from router.access.keystore import open_key_store

    getter = getattr(ctx.obj, "settings", None)
    return open_key_store(settings_or_exit(getter if callable(getter) else get_settings))


def _row(key: ApiKey) -> dict[str, object]:
    return key.model_dump(mode="json", exclude={"token_sha256"}) | {"scopes": sorted(key.scopes)}


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who the key is for (shown in `keys list`).")],
    scopes: Annotated[
        list[Scope],
        typer.Option("--scope", help="A scope the key has; repeat for several.", min=1),
    ],
    rpm: Annotated[
        int | None, typer.Option("--rpm", min=1, help="Requests per minute (none: no limit).")
    ] = None,
    tpm: Annotated[
        int | None, typer.Option("--tpm", min=1, help="Tokens per minute (none: no limit).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print its token: the only time it is shown."""
    store = _store(ctx)
    key, token = issue(name, scopes, Limits(requests_per_minute=rpm, tokens_per_minute=tpm))
    with exit_on_router_error():
        store.add(key)
    if as_json:
        out.print_json(json.dumps(_row(key) | {"token": token}))
        return
    out.print(f"created {key.id} ({', '.join(sorted(key.scopes))}; {key.limits.label()})")
    out.print(token)
    err.print(f"store the token now: only its hash is kept ({store.where()})", soft_wrap=True)


@keys_app.command("list")
def list_keys(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every key, revoked ones included; never a token."""
    with exit_on_router_error():
        keys = sorted(_store(ctx).all(), key=lambda key: key.created_at)
    if as_json:
        out.print_json(json.dumps([_row(key) for key in keys]))
        return
    table = Table("id", "name", "scopes", "limits", "created", "revoked")
    for key in keys:
        revoked = "" if key.revoked_at is None else key.revoked_at.isoformat(timespec="seconds")
        table.add_row(
            key.id,
            key.name,
            ",".join(sorted(key.scopes)),
            key.limits.label(),
            key.created_at.isoformat(timespec="seconds"),
            revoked,
        )
    out.print(table)


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]
) -> None:
    """Revoke a key: every replica refuses it from its next request."""
    with exit_on_router_error():
        key = _store(ctx).revoke(key_id)
    out.print(f"revoked {key.id} ({key.name})")
