"""Encryption at rest for carrier credentials (channel secrets, chatbot app keys and passwords).

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) through MultiFernet, so keys rotate:
the first key encrypts, every key decrypts, and `rotate` re-encrypts old tokens under the first.
Keys come from `MSG5G_CREDENTIALS_KEYS` (comma-separated Fernet keys); without them a key is
derived from `MSG5G_SECRET_KEY` with HKDF, which is what the embedded default uses.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretsUnreadable(ValueError):
    """A ciphertext no configured key opens (a key was removed, or the data was altered)."""


def derive_key(secret: str) -> bytes:
    digest = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"msg5g", info=b"msg5g credentials at rest")
    return base64.urlsafe_b64encode(digest.derive(secret.encode()))


class SecretBox:
    def __init__(self, keys: Iterable[bytes | str]) -> None:
        fernets = [Fernet(key) for key in keys]
        if not fernets:
            raise ValueError("at least one credentials key is needed")
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, credentials_keys: str, secret_key: str) -> SecretBox:
        keys = [k.strip() for k in credentials_keys.split(",") if k.strip()]
        return cls(keys or [derive_key(secret_key)])

    def seal(self, values: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(dict(values), separators=(",", ":")).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            opened = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable("stored credentials cannot be decrypted with the configured keys") from exc
        if not isinstance(opened, dict):
            raise SecretsUnreadable("stored credentials are not an object")
        return opened

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()
