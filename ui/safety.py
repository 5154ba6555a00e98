"""What the web UI may expose: where it listens, who may use it, which files it serves, what it accepts.

The rules: listen on loopback unless a password is set (or the operator says `--insecure-public`);
serve only files under the indexed folders and the thumbnail cache; cap uploads by bytes (Gradio refuses
larger bodies) and by pixels (checked from the image header, before decoding, so bombs never expand).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from multimodal.errors import ConfigError, ImageLoadError
from multimodal.images import load_image
from multimodal.records import IMAGE
from multimodal.store import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a large phone photo is 5-15 MB
DEFAULT_MAX_UPLOAD_PIXELS = 60_000_000  # above any phone camera; far below what would exhaust memory


@dataclass(frozen=True)
class Exposure:
    """How the UI is reachable, and therefore which server-side features it offers."""

    host: str = DEFAULT_HOST
    auth: tuple[str, str] | None = None
    insecure_public: bool = False

    @property
    def public(self) -> bool:
        return not is_loopback(self.host)

    @property
    def trusted(self) -> bool:
        """Only the operator (loopback, or behind a password) may name server paths: query by path, ingest."""
        return not self.public or self.auth is not None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to them ("localhost")."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """`USER:PASS` → (user, pass); the password may itself contain colons."""
    if text is None or text == "":
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must look like USER:PASSWORD (both non-empty)")
    return user, password


def check_exposure(host: str, auth: tuple[str, str] | None, insecure_public: bool) -> Exposure:
    """Refuse to listen beyond this machine without a password, unless explicitly told to.

    Raises:
        ConfigError: a non-loopback host without `auth` and without `insecure_public`.
    """
    exposure = Exposure(host=host, auth=auth, insecure_public=insecure_public)
    if exposure.public and auth is None and not insecure_public:
        raise ConfigError(
            f"--host {host} would let anyone on the network search (and see) your images; add "
            "--auth USER:PASSWORD, or --insecure-public if this network is trusted"
        )
    return exposure


def indexed_roots(store: Store) -> list[Path]:
    """The folders that were ingested (each image records the folder its ingest started from)."""
    roots = {str(r.metadata["root"]) for r in store.iter_records(where={"kind": IMAGE}) if r.metadata.get("root")}
    return sorted(Path(r) for r in roots)


def load_upload(path: str | Path, *, max_pixels: int) -> Image.Image:
    """Open an uploaded image for a query, refusing more than `max_pixels` before decoding.

    Raises:
        ImageLoadError: with a reason a person can act on.
    """
    try:
        return load_image(Path(path), max_pixels=max_pixels, min_side=512).image
    except ImageLoadError as e:
        raise ImageLoadError("the uploaded image", e.reason) from e

