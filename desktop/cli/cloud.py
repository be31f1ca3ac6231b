"""`llamaside keys | providers | privacy | offline`: cloud keys (keyring only), endpoints, the
privacy record and the offline switch."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TextIO

from desktop.backends import secrets
from desktop.backends.providers import BUILTIN, Providers, key_for
from desktop.core.errors import InvalidParameter
from desktop.storage.export import privacy_rows, write_privacy_record
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="API keys for cloud providers (kept in the keyring)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_set = key_commands.add_parser("set", help="store a key (read from a prompt or stdin)")
    key_set.add_argument("provider")
    key_set.set_defaults(run=cmd_keys_set)
    key_remove = key_commands.add_parser("remove", help="delete a stored key")
    key_remove.add_argument("provider")
    key_remove.set_defaults(run=cmd_keys_remove)
    key_list = key_commands.add_parser("list", help="providers and where their key comes from")
    key_list.set_defaults(run=cmd_keys_list)

    providers = sub.add_parser("providers", help="cloud providers and custom endpoints")
    commands = providers.add_subparsers(dest="providers_command", required=True)
    commands.add_parser("list", help="list providers").set_defaults(run=cmd_providers_list)
    add = commands.add_parser("add", help="add an endpoint (vLLM, llama-server, a host...)")
    add.add_argument("name")
    add.add_argument("--base-url", required=True)
    add.add_argument("--api", choices=["openai", "anthropic"], default="openai")
    add.set_defaults(run=cmd_providers_add)
    move = commands.add_parser("set", help="change a provider's base URL")
    move.add_argument("name")
    move.add_argument("--base-url", required=True)
    move.set_defaults(run=cmd_providers_set)
    for verb, helptext in (
        ("enable", "turn cloud use on for a provider"),
        ("disable", "turn it off: nothing is sent to it"),
        ("remove", "remove a custom endpoint (or reset a built-in)"),
    ):
        parser = commands.add_parser(verb, help=helptext)
        parser.add_argument("name")
        parser.set_defaults(run=cmd_providers_toggle, verb=verb)

    privacy = sub.add_parser(
        "privacy", help="the privacy record: every request that left this computer"
    )
    privacy.add_argument("--json", action="store_true", help="one JSON object per request")
    privacy.add_argument("--export", metavar="FILE", help="write it to FILE (.csv or .json)")
    privacy.set_defaults(run=cmd_privacy)

    offline = sub.add_parser("offline", help="the app-wide offline switch (hub and cloud)")
    offline.add_argument("state", nargs="?", choices=["on", "off"], help="omit to show it")
    offline.set_defaults(run=cmd_offline)


def _providers(paths: AppPaths) -> tuple[Settings, Providers]:
    settings = Settings(paths.settings)
    return settings, Providers(settings.get("providers", {}))


def _save(settings: Settings, providers: Providers) -> None:
    settings.set("providers", providers.to_settings())


def cmd_keys_set(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    _settings, providers = _providers(paths)
    config = providers.get(args.provider)
    if sys.stdin.isatty():
        key = getpass.getpass(f"API key for {config.name} (input hidden): ")
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise InvalidParameter("No key given; nothing was saved.")
    secrets.set_secret(config.name, key)
    out.write(f"Saved the {config.name} key in the system keyring.\n")
    return 0


def cmd_keys_remove(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    _settings, providers = _providers(paths)
    config = providers.get(args.provider)
    removed = secrets.delete_secret(config.name)
    out.write(
        f"Deleted the {config.name} key.\n"
        if removed
        else f"No {config.name} key was stored in the keyring.\n"
    )
    return 0


def cmd_keys_list(_args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    _settings, providers = _providers(paths)
    problem = secrets.keyring_problem()
    for config in providers.all():
        try:
            _key, source = key_for(config)
        except secrets.SecretStoreUnavailable as exc:
            out.write(f"{config.name:<12} {exc}\n")
            continue
        where = {"keyring": "key in the system keyring", "none": "no key"}.get(
            source, f"key from {source} (read only)"
        )
        out.write(f"{config.name:<12} {where}\n")
    if problem:
        out.write(problem + "\n")
    return 0


def cmd_providers_list(_args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    _settings, providers = _providers(paths)
    for config in providers.all():
        state = "on " if config.enabled else "off"
        kind = "built-in" if config.name in BUILTIN else "custom"
        source = providers.base_url_source(config.name)
        if source:
            kind += f", address from {source}"
        out.write(f"{config.name:<12} {state}  {config.api:<9} {config.base_url}  ({kind})\n")
    return 0


def cmd_providers_add(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    settings, providers = _providers(paths)
    config = providers.add(args.name, args.base_url, args.api)
    _save(settings, providers)
    out.write(
        f"Added {config.name} ({config.api} API at {config.base_url}); it is off until "
        f"`llamaside providers enable {config.name}`.\n"
    )
    return 0


def cmd_providers_set(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    settings, providers = _providers(paths)
    if not args.base_url.startswith(("http://", "https://")):
        raise InvalidParameter(f"Not a URL: {args.base_url!r}.")
    config = providers.update(args.name, base_url=args.base_url.rstrip("/"))
    _save(settings, providers)
    out.write(f"{config.name} now uses {config.base_url}.\n")
    return 0


def cmd_providers_toggle(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    settings, providers = _providers(paths)
    if args.verb == "remove":
        providers.remove(args.name)
        out.write(f"Removed {args.name}.\n")
    else:
        providers.update(args.name, enabled=args.verb == "enable")
        out.write(f"{args.name} is {'on' if args.verb == 'enable' else 'off'}.\n")
    _save(settings, providers)
    return 0


def cmd_privacy(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    store = ChatStore(paths.database)
    try:
        records = store.outbound()
    finally:
        store.close()
    rows = privacy_rows(records)
    if args.export:
        target = Path(args.export)
        write_privacy_record(rows, target)
        out.write(f"Wrote {len(rows)} requests to {target}.\n")
        return 0
    if args.json:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    if not records:
        out.write("Nothing has left this computer: no request to a provider or the hub.\n")
        return 0
    for record in records:
        chat = f"  chat {record.conversation_id}" if record.conversation_id is not None else ""
        pictures = f" ({record.images_note})" if record.images else ""
        out.write(
            f"{record.at}  {record.destination:<12} {record.purpose:<8} {record.host:<24} "
            f"{record.model or '-'}{chat}  {record.bytes_sent:,} bytes{pictures}\n"
        )
    return 0


def cmd_offline(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    settings = Settings(paths.settings)
    if args.state is not None:
        settings.set("offline", args.state == "on")
    offline = bool(settings.get("offline", False))
    out.write(
        "Offline: nothing is sent to the hub or any cloud provider.\n"
        if offline
        else "Online: the hub and the cloud providers you turned on can be reached.\n"
    )
    return 0
