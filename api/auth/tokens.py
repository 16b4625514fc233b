"""Bearer tokens (JWT) from an external identity provider: signature, issuer, audience, expiry, claims.

The provider's keys come from its JWKS URL (fetched and cached by PyJWT's client), a JWKS file, or one
PEM public key. Roles and the viewing and capture units come from configurable claims, so any OIDC
provider (Keycloak, Azure AD, VNeID-style gateways) can be mapped without code.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from api.auth.settings import AuthSettings


class TokenError(ValueError):
    """The token is not acceptable (the message says why, without echoing it)."""


class JwtVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self.s = settings
        self._client: jwt.PyJWKClient | None = None
        self._keyset: jwt.PyJWKSet | None = None
        if settings.jwt_jwks_url:
            self._client = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=5)
        elif settings.jwt_jwks_file:
            self._keyset = jwt.PyJWKSet.from_json(settings.jwt_jwks_file.read_text(encoding="utf-8"))
        elif not settings.jwt_public_key:
            raise ValueError(
                "RISKMAP_AUTH_JWT_ISSUER is set but no keys: set RISKMAP_AUTH_JWT_JWKS_URL, "
                "RISKMAP_AUTH_JWT_JWKS_FILE or RISKMAP_AUTH_JWT_PUBLIC_KEY"
            )

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        if self._keyset is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            for k in self._keyset.keys:
                if kid is None or k.key_id == kid:
                    return k.key
            raise TokenError("token signed with an unknown key")
        return self.s.jwt_public_key

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or TokenError."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self.s.jwt_algorithms:
                raise TokenError(f"token algorithm {header.get('alg')!r} is not accepted")
            return jwt.decode(
                token,
                self._key(token),
                algorithms=self.s.jwt_algorithms,
                audience=self.s.jwt_audience,
                issuer=self.s.jwt_issuer,
                leeway=self.s.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except TokenError:
            raise
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token from another issuer") from None
        except jwt.PyJWKClientError as exc:
            raise TokenError(f"cannot get the identity provider's keys: {exc}") from None
        except (jwt.InvalidTokenError, ValueError, json.JSONDecodeError) as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from None

    def claim(self, claims: dict[str, Any], path: str) -> Any:
        value: Any = claims
        for part in path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def strings(self, claims: dict[str, Any], path: str) -> tuple[str, ...]:
        value = self.claim(claims, path)
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not isinstance(value, list):
            return ()
        return tuple(str(v) for v in value if isinstance(v, str | int))

    def roles(self, claims: dict[str, Any]) -> tuple[str, ...]:
        prefix = self.s.jwt_role_prefix
        out = []
        for r in self.strings(claims, self.s.jwt_roles_claim):
            if prefix:
                if not r.startswith(prefix):
                    continue
                r = r[len(prefix) :]
            out.append(r.replace("-", "_"))
        return tuple(out)
