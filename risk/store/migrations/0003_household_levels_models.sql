-- 0003: scoring below the ward. household_levels holds riskmap's household levels with typed columns (a
-- city has millions of households: no JSON per row); models is the append-only registry of trained risk
-- models whose version each snapshot names.
CREATE TABLE household_levels (
    snapshot_id bigint NOT NULL,
    household_id bigint,
    ward_id text COLLATE "C",
    group_id text COLLATE "C",
    h3_9 bigint,
    h3_10 bigint,
    level smallint,
    neighbourhood_level smallint,
    reasons bigint,
    members smallint,
    older smallint,
    elderly smallint,
    comorbid smallint,
    unvaccinated smallint,
    active_f0 smallint,
    positive_tests_7d smallint,
    f1_quarantined smallint,
    vulnerable_unvaccinated smallint,
    elderly50_under_vaccinated smallint,
    booster_due smallint,
    flag_f0 boolean,
    flag_f1 boolean,
    flag_positive boolean,
    flag_elderly_unvaccinated boolean,
    flag_booster_due boolean,
    flag_support boolean,
    model_probability real
) PARTITION BY LIST (snapshot_id);
CREATE INDEX household_levels_snapshot_id_household_id ON household_levels (snapshot_id, household_id);
CREATE INDEX household_levels_snapshot_id_ward_id_level ON household_levels (snapshot_id, ward_id, level);
CREATE TRIGGER household_levels_immutable BEFORE UPDATE OR DELETE ON household_levels
    FOR EACH ROW EXECUTE FUNCTION snapshot_rows_are_immutable();
CREATE TABLE models (
    model_id text COLLATE "C",
    version text COLLATE "C",
    kind text COLLATE "C",
    trained_at timestamp with time zone,
    train_from date,
    train_to date,
    features text COLLATE "C",
    params text COLLATE "C",
    metrics text COLLATE "C",
    sha256 text COLLATE "C",
    artifact bytea
);
CREATE INDEX models_model_id ON models (model_id);
CREATE INDEX models_kind_trained_at ON models (kind, trained_at);
