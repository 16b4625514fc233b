"""Map tiles: vector (MVT) and raster (PNG) tiles of riskmap's layers, TileJSON, the MapLibre style.

`layers` says what each layer draws at each zoom, `prepare` derives the polygons the map draws
(`map_units`), `render` draws tiles from the in-memory snapshot view (embedded store) or asks PostGIS
(`ST_AsMVT`), `cache` keeps finished tiles per snapshot, `raster` paints PNG overlays, `style` writes the
MapLibre style.
"""
