"""API keys: each key belongs to one user; the server stores only their SHA-256 digests.

The keys file has one key a line, `#` starts a comment:

    # user    digest                                                                   role
    alice     sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
    ops       sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  admin

`intent-mediator serve --new-key alice` prints a fresh random key and the line to add. A key acts as its own
user only; an `admin` key may name any user (the body's `user` or `X-Mediator-User`). Keys are random 256-bit
tokens, so one unsalted SHA-256 is enough (a slow hash such as scrypt protects guessable passwords, and would
add its cost to every request); digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from intent_mediator.artifacts import ArtifactError, validate_id
from intent_mediator.errors import IntentMediatorError

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


class KeyFileError(IntentMediatorError, ValueError):
    """The keys file is missing or a line is malformed; the message names the file and line."""


def digest(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> str:
    return "im-" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its owner, its digest, and whether it may act for other users."""

    user: str
    digest: str
    admin: bool = False

    @classmethod
    def from_secret(cls, secret: str, user: str, admin: bool = False) -> ApiKey:
        return cls(validate_id(user, "user"), digest(secret), admin)

    def line(self) -> str:
        return f"{self.user} {self.digest}" + (" admin" if self.admin else "")


class KeyRing:
    """The configured keys; `identify` maps a presented bearer token to its key (or None)."""

    def __init__(self, keys: list[ApiKey]):
        self.keys = list(keys)
        self._digests = [(bytes.fromhex(key.digest[7:]), key) for key in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def identify(self, token: str) -> ApiKey | None:
        presented = hashlib.sha256(token.encode()).digest()
        found = None
        for stored, key in self._digests:  # every entry is compared: the time does not depend on which matched
            if hmac.compare_digest(presented, stored) and found is None:
                found = key
        return found

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        """Parse a keys file (see the module docstring).

        Raises:
            KeyFileError: no such file, or a line that is not `<user> sha256:<64 hex> [admin]`.
        """
        path = Path(path)
        if not path.is_file():
            raise KeyFileError(f"--api-keys-file: no such file {path}")
        keys, seen = [], set()
        for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            where = f"{path}:{number}"
            if len(parts) not in (2, 3) or not _DIGEST.fullmatch(parts[1]) or parts[2:] not in ([], ["admin"]):
                # The line is not echoed: it may hold a plaintext key.
                raise KeyFileError(
                    f"{where}: expected '<user> sha256:<64 hex digits> [admin]' "
                    "(store digests, never keys: `intent-mediator serve --new-key USER` prints both)"
                )
            try:
                user = validate_id(parts[0], "user")
            except ArtifactError as exc:
                raise KeyFileError(f"{where}: {exc}") from None
            if parts[1] in seen:
                raise KeyFileError(f"{where}: this digest appears twice")
            seen.add(parts[1])
            keys.append(ApiKey(user, parts[1], admin=len(parts) == 3))
        if not keys:
            raise KeyFileError(f"{path}: no keys (an empty keys file would lock every client out)")
        return cls(keys)
