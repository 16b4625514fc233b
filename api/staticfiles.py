"""Static files sent gzip-compressed from memory, with ETag and a cache lifetime chosen by the URL.

Starlette's `StaticFiles` behind the app's `GZipMiddleware` compressed MapLibre's 1 MB bundle again on
every request (~0.15 s of server CPU per map load on this machine, competing with the browser for its
2 cores). Here each text file is compressed once (level 9) and kept in memory until it changes on disk.

Caching: a URL carrying a version (`?v=…`, as the map page writes them: the package version or a hash
of the file) may be kept for a year (`immutable`); an unversioned URL is revalidated every time
(`no-cache`: a 304 against the ETag), so a deploy is never hidden behind a stale copy.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_SIZE = 1400  # under ~1 packet gzip gains nothing
VERSIONED = "public, max-age=31536000, immutable"
UNVERSIONED = "no-cache"

_lock = threading.Lock()
_gzipped: dict[tuple[str, int, int], bytes] = {}


def gzipped(path: str | os.PathLike[str], stat: os.stat_result | None = None) -> bytes:
    """The file gzip-compressed (level 9, no timestamp: the same bytes every time), computed once."""
    stat = stat or os.stat(path)
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    body = _gzipped.get(key)
    if body is None:
        body = gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)
        with _lock:
            for old in [k for k in _gzipped if k[0] == key[0]]:
                del _gzipped[old]
            _gzipped[key] = body
    return body


def file_version(path: str | os.PathLike[str]) -> str:
    """A short hash of a file's content, for `?v=` in the URLs a page writes (cached by mtime and size)."""
    stat = os.stat(path)
    key = (f"v:{path}", stat.st_mtime_ns, stat.st_size)
    found = _versions.get(key)
    if found is None:
        found = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]
        _versions[key] = found
    return found


_versions: dict[tuple[str, int, int], str] = {}


def _compressible(media_type: str | None) -> bool:
    return bool(media_type) and media_type.startswith(COMPRESSIBLE)  # type: ignore[union-attr]


class CompressedStaticFiles(StaticFiles):
    """`StaticFiles` whose text files travel gzip-compressed from memory; cache lifetime by URL version."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = b"v=" in scope.get("query_string", b"")
        if response.status_code not in (200, 304):
            return response
        response.headers["Cache-Control"] = VERSIONED if versioned else UNVERSIONED
        if response.status_code != 200 or not isinstance(response, FileResponse):
            return response
        accepts = "gzip" in Headers(scope=scope).get("accept-encoding", "")
        stat = response.stat_result
        if not accepts or not _compressible(response.media_type) or stat is None or stat.st_size < MIN_SIZE:
            return response
        headers = {
            k: v for k, v in response.headers.items() if k in ("etag", "last-modified", "cache-control")
        }
        headers["Vary"] = "Accept-Encoding"
        headers["Content-Encoding"] = "gzip"
        return Response(gzipped(response.path, stat), media_type=response.media_type, headers=headers)

    def warm(self, names: list[str]) -> None:
        """Compress these files now (at start-up), so the first visitor does not wait for it."""
        assert self.directory is not None
        for name in names:
            full = Path(self.directory) / name
            if full.is_file() and full.stat().st_size >= MIN_SIZE:
                gzipped(full)
