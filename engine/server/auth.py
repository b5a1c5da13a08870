"""Who may do what: server keys (hashed at rest) and short-lived signed player tokens.

A **server key** belongs to a game's backend. The server holds only its SHA-256 hash
(:func:`hash_key`) under a key id; the key itself is never stored or logged (logs name the
key id). A key may do everything: act as any player, read any player's data, mint tokens,
reload characters, read usage and audit.

A **player token** is minted with a server key (``POST /v1/tokens``) for one player and
optionally some characters, and expires (minutes). A game client in a browser or on a phone
holds only a token: it can talk only as its own player, to its characters, and read or forget
only its own data. A token is ``npt1.<payload>.<signature>``: the payload is base64url JSON
(``sub`` player, ``chars`` characters or null, ``exp`` expiry, ``kid`` the minting key's id),
the signature HMAC-SHA256 over it with the server's token secret.

Errors are :class:`ApiError` with an HTTP status (401: no or bad credentials, expired;
403: allowed in, but not to this) and a machine-readable ``code``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from engine.errors import EngineError

__all__ = ["ApiError", "Keyring", "Principal", "TokenSigner", "hash_key", "new_key"]

#: Longest player id accepted from a request.
MAX_PLAYER_CHARS = 128

KEY_PREFIX = "npc_sk_"
TOKEN_PREFIX = "npt1"
#: Longest credential looked at; anything longer is refused unread.
MAX_CREDENTIAL_CHARS = 4096


class ApiError(EngineError):
    """A request's credentials are missing, wrong, expired, or do not allow what it asks."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def new_key() -> str:
    """A fresh random server key (give it to the game's backend; keep only its hash)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hash a server keeps for ``key``: ``sha256:<hex>``.

    Keys are 256 random bits, so a plain hash cannot be reversed by guessing.

    >>> hash_key("npc_sk_x")[:7]
    'sha256:'
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request speaks for: a server key (``player`` None) or one player's token."""

    key_id: str
    player: str | None = None
    characters: frozenset[str] | None = None
    expires: float | None = None

    @property
    def is_key(self) -> bool:
        return self.player is None

    @property
    def subject(self) -> str:
        """What limits are counted against: the key, or the player."""
        return f"key:{self.key_id}" if self.player is None else f"player:{self.player}"

    def acting_player(self, requested: str | None) -> str:
        """The player this request acts as; a token may act only as its own player."""
        if self.player is None:
            if not requested:
                raise ApiError(
                    422, "player_required", "a request with a server key names its player"
                )
            if len(requested) > MAX_PLAYER_CHARS or not requested.isprintable():
                raise ApiError(
                    422,
                    "invalid",
                    f"a player id is at most {MAX_PLAYER_CHARS} printable characters",
                )
            return requested
        if requested is not None and requested != self.player:
            raise ApiError(403, "wrong_player", "this token belongs to another player")
        return self.player

    def check_character(self, character: str) -> None:
        """Refuse a character outside the token's scope."""
        if self.characters is not None and character not in self.characters:
            raise ApiError(
                403, "character_not_allowed", f"this token may not talk to {character!r}"
            )

    def visible(self, characters: Iterable[str]) -> list[str]:
        """The characters this principal may see, sorted."""
        return sorted(c for c in characters if self.characters is None or c in self.characters)

    def require_key(self) -> None:
        """Refuse a player token where only a server key may act."""
        if self.player is not None:
            raise ApiError(403, "key_required", "this needs a server key, not a player token")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Mints and checks player tokens with one secret (HMAC-SHA256)."""

    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("a token secret needs at least 16 bytes")
        self._secret = secret
        self._clock = clock

    def mint(
        self, key_id: str, player: str, characters: Iterable[str] | None, ttl_s: float
    ) -> tuple[str, float]:
        """A token for ``player`` and its expiry time."""
        expires = self._clock() + ttl_s
        chars = sorted(set(characters)) if characters is not None else None
        payload = {"sub": player, "chars": chars, "exp": round(expires, 3), "kid": key_id}
        body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{TOKEN_PREFIX}.{body}.{self._sign(body)}", expires

    def check(self, token: str) -> Principal:
        """The principal a token stands for; :class:`ApiError` when it is bad or expired."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise ApiError(401, "bad_credentials", "not a valid key or token")
        _prefix, body, signature = parts
        if not hmac.compare_digest(self._sign(body), signature):
            raise ApiError(401, "bad_credentials", "not a valid key or token")
        try:
            payload = json.loads(_unb64(body))
            player = payload["sub"]
            chars = payload["chars"]
            expires = float(payload["exp"])
            key_id = str(payload["kid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(401, "bad_credentials", "not a valid key or token") from exc
        if not isinstance(player, str) or not (chars is None or isinstance(chars, list)):
            raise ApiError(401, "bad_credentials", "not a valid key or token")
        if self._clock() >= expires:
            raise ApiError(401, "token_expired", "the player token has expired; mint a new one")
        return Principal(
            key_id=key_id, player=player,
            characters=frozenset(map(str, chars)) if chars is not None else None, expires=expires,
        )  # fmt: skip

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).digest())


class Keyring:
    """The server keys (id -> hash) and the token signer: turns a credential into a principal."""

    def __init__(self, key_hashes: Mapping[str, str], signer: TokenSigner) -> None:
        self._by_hash = {digest.strip().lower(): key_id for key_id, digest in key_hashes.items()}
        self.signer = signer

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, credential: str | None) -> Principal:
        """A server key or a player token; :class:`ApiError` (401) otherwise."""
        if not credential:
            raise ApiError(
                401,
                "missing_credentials",
                "send a server key or a player token "
                "(Authorization: Bearer ..., or ?token= on a socket)",
            )
        if len(credential) > MAX_CREDENTIAL_CHARS:
            raise ApiError(401, "bad_credentials", "not a valid key or token")
        if credential.startswith(TOKEN_PREFIX + "."):
            return self.signer.check(credential)
        key_id = self._by_hash.get(hash_key(credential))
        if key_id is None:
            raise ApiError(401, "bad_credentials", "not a valid key or token")
        return Principal(key_id=key_id)
