-- 0002: records keep the site's own record id (case code, sample code, F1 code) and, for contacts, the
-- exposure date: F1 lists point at their F0 by the case code, and corrections quote it back to the site.
ALTER TABLE records ADD COLUMN source_ref text COLLATE "C";
ALTER TABLE records ADD COLUMN exposure_date date;
