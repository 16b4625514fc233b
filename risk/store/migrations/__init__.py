"""Numbered SQL migrations of the PostGIS store (a package so that wheels carry the .sql files)."""
