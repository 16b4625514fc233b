"""Settings for authentication: API keys and bearer tokens (JWT) of an external identity provider."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_AUTH_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_AUTH_", extra="ignore")

    jwt_issuer: str = Field(
        default="", description="expected `iss` of bearer tokens; empty: JWTs are refused"
    )
    jwt_audience: str = Field(default="riskmap", description="expected `aud` of bearer tokens")
    jwt_jwks_url: str = Field(default="", description="the identity provider's JWKS URL (keys are cached)")
    jwt_jwks_file: Path | None = Field(default=None, description="a JWKS JSON file instead of a URL")
    jwt_public_key: str = Field(default="", description="one PEM public key instead of a JWKS")
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    jwt_leeway_s: float = Field(default=30.0, ge=0, description="clock skew allowed on exp/nbf/iat")
    jwt_subject_claim: str = Field(default="sub")
    jwt_roles_claim: str = Field(default="roles", description="dotted path, e.g. realm_access.roles")
    jwt_role_prefix: str = Field(default="", description="prefix stripped from role names, e.g. riskmap:")
    jwt_view_units_claim: str = Field(default="view_units", description='unit ids; "*" means everywhere')
    jwt_capture_units_claim: str = Field(default="capture_units")
    directory_refresh_s: float = Field(
        default=5.0, gt=0, description="how often users and keys are re-read (revocation takes effect)"
    )
    scrypt_n: int = Field(default=1 << 14, ge=2, description="scrypt cost of stored key hashes")
    key_days: int = Field(default=365, ge=1, description="default lifetime of a new API key")


@lru_cache(maxsize=1)
def auth_settings() -> AuthSettings:
    return AuthSettings()
