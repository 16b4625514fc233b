# syntax=docker/dockerfile:1
# riskmap API image: `docker build -t riskmap .` then `docker run -p 8000:8000 riskmap`
# (embedded store in the volume /app/var), or `docker compose up` for the API beside PostGIS.
#
# Stages: `assets` runs `npm ci` from the committed lock (Leaflet, MapLibre GL: served by the app, never a
# CDN); `wheels` builds riskmap and every dependency as wheels (all have manylinux wheels: shapely and
# pyogrio bring their own GEOS/GDAL, so no system GIS libraries); the runtime installs those wheels offline.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && mkdir -p /assets/leaflet /assets/maplibre-gl \
 && cp -r node_modules/leaflet/dist node_modules/leaflet/LICENSE /assets/leaflet/ \
 && cp -r node_modules/maplibre-gl/dist node_modules/maplibre-gl/LICENSE.txt /assets/maplibre-gl/ \
 && rm -f /assets/*/dist/*.map /assets/*/dist/*-dev.js /assets/*/dist/*.d.ts

FROM ${PYTHON_IMAGE} AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The build needs pyproject.toml, README.md (its readme) and the packages; .dockerignore keeps out the rest.
COPY . .
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --system --gid 10001 riskmap \
 && useradd --system --uid 10001 --gid riskmap --create-home --home-dir /home/riskmap --shell /usr/sbin/nologin riskmap
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels riskmap
WORKDIR /app
# Reference data and front-end assets are read-only (owned by root); only var/ is writable.
COPY data/ /app/data/
COPY --from=assets /assets/ /app/assets/
RUN mkdir -p /app/var && chown riskmap:riskmap /app/var
ENV RISKMAP_GEO_DATA_DIR=/app/data \
    RISKMAP_API_ASSETS_DIR=/app/assets \
    RISKMAP_STORE_PATH=/app/var/store
VOLUME ["/app/var"]
USER riskmap
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["riskmap", "serve", "--host", "0.0.0.0", "--port", "8000"]
