"""Authentication: API keys (hashed in the store, rotatable, expiring, revocable) and bearer JWTs of an
external identity provider, turned into `api.security.Principal`s with their scopes."""
