"""API key secrets: how a key looks, how its secret is hashed for storage, and how it is checked.

A key reads `rk_<key_id>_<secret>`: the key id is public (it names the stored row, shows in lists and
in the audit log), the secret is 43 random URL-safe characters shown once at creation. Only a salted
scrypt hash of the secret is stored, so a copy of the store gives no usable key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "rk"
_KEY = re.compile(r"^rk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """The whole key, as the caller sends it (shown once)."""
        return f"{PREFIX}_{self.key_id}_{self.secret}"


def new_key() -> NewKey:
    return NewKey(secrets.token_hex(6), secrets.token_urlsafe(32))


def parse(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    m = _KEY.match(token)
    return (m.group(1), m.group(2)) if m else None


def looks_like_key(token: str) -> bool:
    return token.startswith(f"{PREFIX}_")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, n: int = 1 << 14) -> str:
    """`scrypt$n$r$p$salt$hash` (memory-hard: ~16 MiB and tens of ms per check at the default n)."""
    salt = secrets.token_bytes(16)
    r, p = 8, 1
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=1 << 26, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_secret(secret: str, stored: str) -> bool:
    """True when `secret` hashes to `stored` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), maxmem=1 << 26, dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))
