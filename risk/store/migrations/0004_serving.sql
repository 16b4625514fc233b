-- 0004: what serving needs (issue 6): household points for tiles and the polygons the map draws
-- (household levels are issue 5's typed table, 0003).
--
-- households get a generated Web Mercator point (spherical Mercator written out, NULL outside its range)
-- with a GiST index, so household tiles need no per-request projection.
ALTER TABLE households ADD COLUMN geom_3857 geometry(Point, 3857) GENERATED ALWAYS AS (CASE WHEN lon BETWEEN -180 AND 180 AND lat BETWEEN -85.0511287798066 AND 85.0511287798066 THEN ST_SetSRID(ST_MakePoint(lon * 20037508.342789244 / 180, ln(tan(pi() / 4 + radians(lat) / 2)) * 6378137), 3857) END) STORED;
CREATE INDEX households_geom_3857_gist ON households USING gist (geom_3857);

-- Every polygon the map draws, derived by api.tiles.prepare (wards, groups, H3 cells 8-10, the city).
CREATE TABLE map_units (
    unit_type text COLLATE "C",
    unit_id text COLLATE "C",
    parent_id text COLLATE "C",
    ward_id text COLLATE "C",
    name text COLLATE "C",
    households integer,
    detail smallint,
    geometry geometry(MultiPolygon, 4326),
    geom_3857 geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geometry, 3857)) STORED
);
CREATE INDEX map_units_unit_type_detail_unit_id ON map_units (unit_type, detail, unit_id);
CREATE INDEX map_units_ward_id ON map_units (ward_id);
CREATE INDEX map_units_geometry_gist ON map_units USING gist (geometry);
CREATE INDEX map_units_geom_3857_gist ON map_units USING gist (geom_3857);
-- one spatial index per drawn unit type and detail: a tile of one layer never walks the others' entries
CREATE INDEX map_units_geom_3857_ward ON map_units USING gist (geom_3857) WHERE unit_type = 'ward' AND detail = 0;
CREATE INDEX map_units_geom_3857_ward_9 ON map_units USING gist (geom_3857) WHERE unit_type = 'ward' AND detail = 9;
CREATE INDEX map_units_geom_3857_ward_11 ON map_units USING gist (geom_3857) WHERE unit_type = 'ward' AND detail = 11;
CREATE INDEX map_units_geom_3857_ward_13 ON map_units USING gist (geom_3857) WHERE unit_type = 'ward' AND detail = 13;
CREATE INDEX map_units_geom_3857_ward_15 ON map_units USING gist (geom_3857) WHERE unit_type = 'ward' AND detail = 15;
CREATE INDEX map_units_geom_3857_group ON map_units USING gist (geom_3857) WHERE unit_type = 'group' AND detail = 0;
CREATE INDEX map_units_geom_3857_group_9 ON map_units USING gist (geom_3857) WHERE unit_type = 'group' AND detail = 9;
CREATE INDEX map_units_geom_3857_group_11 ON map_units USING gist (geom_3857) WHERE unit_type = 'group' AND detail = 11;
CREATE INDEX map_units_geom_3857_group_13 ON map_units USING gist (geom_3857) WHERE unit_type = 'group' AND detail = 13;
CREATE INDEX map_units_geom_3857_group_15 ON map_units USING gist (geom_3857) WHERE unit_type = 'group' AND detail = 15;
CREATE INDEX map_units_geom_3857_h3_8 ON map_units USING gist (geom_3857) WHERE unit_type = 'h3_8';
CREATE INDEX map_units_geom_3857_h3_9 ON map_units USING gist (geom_3857) WHERE unit_type = 'h3_9';
CREATE INDEX map_units_geom_3857_h3_10 ON map_units USING gist (geom_3857) WHERE unit_type = 'h3_10';
