"""Hugging Face hub metadata through huggingface_hub: search, a repo's GGUF files, sizes, sha256.

Respects HF_ENDPOINT (our tests point it at a loopback server), HF_TOKEN and HF_HUB_OFFLINE. A
quick connection check runs first, because without a network huggingface_hub retries for many
seconds before it fails; we say "offline" within a second instead.
"""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from desktop.backends.network import Network, Outbound
from desktop.backends.secrets import SecretStoreUnavailable, hf_token
from desktop.core.catalog import is_projector_name, pick_projector, split_part
from desktop.core.errors import LlamasideError
from desktop.core.hub_files import GgufGroup as GgufGroup  # noqa: PLC0414 (re-export)
from desktop.core.hub_files import RemoteFile

if TYPE_CHECKING:
    from huggingface_hub import HfApi

# huggingface_hub is imported where it is used, not here: importing it (and what it pulls in)
# is slow, and the window must paint before anyone searches or downloads.

CONNECT_TIMEOUT_S = 1.0


class HubError(LlamasideError):
    """A hub request that failed (no such repo, a search error), said for the user."""

    pass


class HubOffline(HubError):
    """The hub cannot be reached, or HF_HUB_OFFLINE says not to try."""

    pass


class HubGated(HubError):
    """The repo needs its license accepted and a token; the message says how."""

    pass


@dataclass(frozen=True)
class RepoSummary:
    """One search hit: a model repo and how popular it is."""

    repo: str
    downloads: int
    likes: int
    gated: bool


DEFAULT_ENDPOINT = "https://huggingface.co"


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def _offline_env() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (constants.HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_online(url: str | None = None) -> None:
    """Raise HubOffline within about a second if the hub cannot be reached."""
    if _offline_env():
        raise HubOffline("Hugging Face is off: HF_HUB_OFFLINE is set. Unset it to download.")
    parts = urlsplit(url or endpoint())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = _proxy_for(parts.scheme, host)
    if proxy is not None:
        # Behind a proxy the hub itself may be unreachable from here: the hub client
        # (httpx, which reads the same variables) goes through the proxy, so that is what
        # must answer.
        what, (host, port) = f"the proxy {proxy[0]}:{proxy[1]} for Hugging Face", proxy
    else:
        what = f"Hugging Face ({host})"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise HubOffline(
            f"Cannot reach {what}: {exc.strerror or exc}. Check the network connection; "
            f"downloads resume where they stopped."
        ) from None


def _no_proxy(host: str, no_proxy: str) -> bool:
    """NO_PROXY: "*", or a host or domain suffix (with or without a leading dot) in its list."""
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy (host, port) that HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name for this URL,
    unless NO_PROXY exempts the host: the environment variables httpx honours."""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or _no_proxy(host, proxies.get("no", "")):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 1080 if parts.scheme.startswith("socks") else 80
    return parts.hostname, parts.port or default


class Hub:
    """Owns the huggingface_hub client: search, file listings, download headers, behind the gate."""

    def __init__(self, token: str | None = None, network: Network | None = None) -> None:
        self.endpoint = endpoint()
        #: The offline switch and the privacy record (a search sends the user's query).
        self.network = network or Network()
        # The token from the keyring, else HF_TOKEN (read only); see backends.secrets.
        #: Why the stored token could not be read, if it could not: public repos still work
        #: without it, and a gated one says so in its error.
        self.token_problem = ""
        if token is None:
            try:
                token = hf_token()[0]
            except SecretStoreUnavailable as exc:
                self.token_problem = f" ({exc})"
        #: Given to huggingface_hub explicitly; False (not None) when there is none, or it
        #: would look for a token of its own and send it unannounced.
        self.token: str | bool = token or False
        self._api: HfApi | None = None

    @property
    def api(self) -> HfApi:
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(endpoint=self.endpoint, token=self.token)
        return self._api

    def headers(self) -> dict[str, str]:
        """Auth and user-agent headers for the byte transfer (no telemetry is sent)."""
        # Public API (documented), though not re-exported explicitly for type checkers.
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

        headers: dict[str, str] = build_hf_headers(token=self.token, library_name="llamaside")
        return headers

    def _leaving(self, purpose: str, what: str, request_line: str) -> None:
        """Check the offline switch, then note the request in the privacy record."""
        self.network.check("Hugging Face")
        check_online(self.endpoint)
        host = urlsplit(self.endpoint).hostname or ""
        self.network.sent(
            Outbound("huggingface", host, purpose, model=what, bytes_sent=len(request_line))
        )

    def note_download(self, remote: RemoteFile) -> None:
        """A file is about to be fetched (once per file; resumed ranges are not listed)."""
        self.network.check("Hugging Face")
        host = urlsplit(remote.url).hostname or ""
        self.network.sent(
            Outbound(
                "huggingface",
                host,
                "download",
                model=f"{remote.repo}/{remote.path}",
                bytes_sent=len(f"GET {remote.url}"),
            )
        )

    def search(self, query: str, limit: int = 20) -> list[RepoSummary]:
        self._leaving(
            "search",
            query,
            f"GET {self.endpoint}/api/models?search={quote(query)}&filter=gguf&limit={limit}",
        )
        from huggingface_hub.errors import HfHubHTTPError

        try:
            found = self.api.list_models(search=query, filter="gguf", limit=limit, sort="downloads")
            return [RepoSummary(m.id, m.downloads or 0, m.likes or 0, bool(m.gated)) for m in found]
        except HfHubHTTPError as exc:
            raise HubError(f"Hugging Face search failed: {exc}") from None

    def gguf_files(self, repo: str, revision: str | None = None) -> list[RemoteFile]:
        """Every GGUF in the repo with its size and sha256 (from the hub's LFS metadata)."""
        self._leaving("files", repo, f"GET {self.endpoint}/api/models/{repo}?blobs=True")
        from huggingface_hub import hf_hub_url
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            info = self.api.model_info(repo, revision=revision, files_metadata=True)
        except GatedRepoError:
            raise HubGated(
                f"{repo} is gated: accept its license at {self.endpoint}/{repo} and add a "
                f"Hugging Face token (Models → Hugging Face → Token…, `llamaside models token "
                f"set`, or the environment variable HF_TOKEN).{self.token_problem}"
            ) from None
        except RepositoryNotFoundError:
            raise HubError(f"No model repo {repo!r} on Hugging Face (or it is private).") from None
        except RevisionNotFoundError:
            raise HubError(f"{repo} has no revision {revision!r}.") from None
        except HfHubHTTPError as exc:
            raise HubError(f"Hugging Face answered with an error for {repo}: {exc}") from None
        commit = info.sha or revision or "main"
        files = []
        for sibling in info.siblings or []:
            if not sibling.rfilename.lower().endswith(".gguf"):
                continue
            size = sibling.lfs.size if sibling.lfs else sibling.size
            files.append(
                RemoteFile(
                    repo=repo,
                    path=sibling.rfilename,
                    # Pinned to the commit: every part of a split model comes from one version.
                    url=hf_hub_url(
                        repo, sibling.rfilename, revision=commit, endpoint=self.endpoint
                    ),
                    size=int(size or 0),
                    sha256=sibling.lfs.sha256 if sibling.lfs else None,
                )
            )
        return files


def group_files(files: list[RemoteFile]) -> list[GgufGroup]:
    """Split parts together (-00001-of-0000N), each other GGUF on its own; projectors apart."""
    groups: dict[str, list[RemoteFile]] = defaultdict(list)
    for remote in files:
        part = split_part(remote.path)
        key = remote.path[: -len(f"-{part[0]:05d}-of-{part[1]:05d}.gguf")] if part else remote.path
        groups[key].append(remote)
    result = []
    for key, members in sorted(groups.items()):
        members.sort(key=lambda f: (split_part(f.path) or (0, 0))[0])
        name = key.rsplit("/", 1)[-1].removesuffix(".gguf")
        result.append(GgufGroup(name, tuple(members)))
    # Models by name; vision projectors (not loadable on their own) last.
    result.sort(key=lambda g: (is_projector_name(g.first.path), g.name.lower()))
    return result


def with_projector(groups: list[GgufGroup], preferred: str = "") -> list[GgufGroup]:
    """The repo's models, each carrying the projector to download with it: ``preferred`` (a
    catalog quant's mmproj) when the repo has it, else F16, BF16, F32, any; the projectors
    themselves are not listed. Without a projector in the repo the models are as they were."""
    projectors = {g.first.path: g.first for g in groups if is_projector_name(g.first.path)}
    models = [g for g in groups if not is_projector_name(g.first.path)]
    chosen = preferred if preferred in projectors else pick_projector(list(projectors))
    if chosen is None:
        return models
    return [GgufGroup(g.name, g.files, projectors[chosen]) for g in models]


def select(groups: list[GgufGroup], wanted: str) -> GgufGroup:
    """The group for a file path, a group name, or a quant name such as Q4_K_M."""
    for group in groups:
        if wanted in (group.name, *(f.path for f in group.files)):
            return group
    key = wanted.lower()
    matches = [g for g in groups if key in g.name.lower() and not is_projector_name(g.first.path)]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(g.name for g in groups) or "none"
    if not matches:
        raise HubError(f"No GGUF matching {wanted!r}. Files in this repo: {names}.")
    raise HubError(
        f"{wanted!r} matches several files ({', '.join(g.name for g in matches)}); "
        f"give the full file name."
    )
