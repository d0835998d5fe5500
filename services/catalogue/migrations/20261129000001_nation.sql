-- The nation (全国, code 00): the root above the provinces, so that one
-- notice and one campaign can cover the whole country. The statistics
-- bureau's table does not list it; a province's parent is now the nation.
ALTER TABLE units DROP CONSTRAINT units_level_check;
ALTER TABLE units ADD CONSTRAINT units_level_check
    CHECK (level IN ('nation', 'province', 'city', 'county', 'township', 'village', 'department'));
ALTER TABLE units DROP CONSTRAINT units_check;
ALTER TABLE units ADD CONSTRAINT units_parent_check
    CHECK (parent_code IS NULL
           OR (parent_code = '00' AND length(code) = 2 AND code <> '00')
           OR (starts_with(code, parent_code) AND code <> parent_code));
INSERT INTO units (code, name, level, parent_code) VALUES ('00', '全国', 'nation', NULL)
    ON CONFLICT (code) DO NOTHING;
UPDATE units SET parent_code = '00' WHERE level = 'province' AND parent_code IS NULL;
