-- 0007: households partitioned by province (LIST on the new `province` column, GSO code: "79" is Ho Chi
-- Minh City), so that a national store keeps each province's households in their own table: tile
-- statements read only the partitions whose points meet the tile (`province_extents`, kept by the store
-- in the transaction that writes households), per-province loads and CLUSTER touch one partition, and a
-- province can be detached, moved or dropped whole. The store makes a province's partition on its first
-- write; rows without a province go to `households_default`. Existing rows move over; rows of the
-- Ho Chi Minh City gazetteers get "79".
ALTER TABLE households RENAME TO households_before_0007;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexrelid::regclass::text AS idx FROM pg_index
             WHERE indrelid = 'households_before_0007'::regclass LOOP
        EXECUTE 'DROP INDEX ' || r.idx;
    END LOOP;
END $$;

CREATE TABLE households (
    household_id bigint,
    household_ref text COLLATE "C",
    point_id bigint,
    ward_id text COLLATE "C",
    group_id text COLLATE "C",
    address text COLLATE "C",
    head_person_id bigint,
    size smallint,
    lon double precision,
    lat double precision,
    h3_7 bigint,
    h3_8 bigint,
    h3_9 bigint,
    h3_10 bigint,
    h3_11 bigint,
    province text COLLATE "C",
    geom_3857 geometry(Point, 3857) GENERATED ALWAYS AS (CASE WHEN lon BETWEEN -180 AND 180 AND lat BETWEEN -85.0511287798066 AND 85.0511287798066 THEN ST_SetSRID(ST_MakePoint(lon * 20037508.342789244 / 180, ln(tan(pi() / 4 + radians(lat) / 2)) * 6378137), 3857) END) STORED
) PARTITION BY LIST (province);
CREATE TABLE households_default PARTITION OF households DEFAULT;
CREATE TABLE households_p79 PARTITION OF households FOR VALUES IN ('79');
CREATE INDEX households_household_id ON households (household_id);
CREATE INDEX households_ward_id ON households (ward_id);
CREATE INDEX households_group_id ON households (group_id);
CREATE INDEX households_point_id ON households (point_id);
CREATE INDEX households_geom_3857_gist ON households USING gist (geom_3857);

INSERT INTO households (household_id, household_ref, point_id, ward_id, group_id, address, head_person_id,
                        size, lon, lat, h3_7, h3_8, h3_9, h3_10, h3_11, province)
SELECT household_id, household_ref, point_id, ward_id, group_id, address, head_person_id, size, lon, lat,
       h3_7, h3_8, h3_9, h3_10, h3_11, CASE WHEN ward_id LIKE 'hcmc-%' THEN '79' END
FROM households_before_0007;
DROP TABLE households_before_0007;

-- bookkeeping: the Web Mercator box of each province's households (no row for households without one)
CREATE TABLE province_extents (
    province text COLLATE "C" PRIMARY KEY,
    extent geometry(Geometry, 3857)  -- a point when the province has one household
);
INSERT INTO province_extents (province, extent)
SELECT province, ST_SetSRID(ST_Extent(geom_3857)::geometry, 3857) FROM households
WHERE province IS NOT NULL AND geom_3857 IS NOT NULL GROUP BY province;
