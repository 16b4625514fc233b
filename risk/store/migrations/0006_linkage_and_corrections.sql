-- 0006: linkage outputs and the corrections workflow.
-- links carry the Fellegi-Sunter match weight, `same_as` (the record of the same event a duplicate dose
-- was merged into) and flags (corrections the link made: swapped birth dates, typo'd IDs); persons say
-- where they came from (registry or feeds); quarantined rows keep the ward their address points to (for
-- per-ward correction lists); corrected re-submissions are recorded in quarantine_resolutions; uncertain
-- matches wait in link_reviews; linked_batches tells the incremental linker what it has linked.
ALTER TABLE quarantine ADD COLUMN ward_id text COLLATE "C";
ALTER TABLE persons ADD COLUMN origin text COLLATE "C";
ALTER TABLE links ADD COLUMN match_weight real;
ALTER TABLE links ADD COLUMN same_as bigint;
ALTER TABLE links ADD COLUMN flags text COLLATE "C";

CREATE TABLE quarantine_resolutions (
    batch_id bigint,
    row_number integer,
    resolved_batch_id bigint,
    resolved_row_number integer,
    status text COLLATE "C",
    resolved_at timestamp with time zone
);
CREATE INDEX quarantine_resolutions_batch_id_row_number ON quarantine_resolutions (batch_id, row_number);
CREATE INDEX quarantine_resolutions_resolved_batch_id ON quarantine_resolutions (resolved_batch_id);

CREATE TABLE link_reviews (
    record_id bigint,
    person_id bigint,
    probability real,
    match_weight real,
    rank smallint,
    reason text COLLATE "C",
    created_at timestamp with time zone
);
CREATE INDEX link_reviews_record_id_person_id ON link_reviews (record_id, person_id);
CREATE INDEX link_reviews_record_id ON link_reviews (record_id);

CREATE TABLE linked_batches (
    batch_id bigint,
    mode text COLLATE "C",
    linked_at timestamp with time zone
);
CREATE INDEX linked_batches_batch_id ON linked_batches (batch_id);

