-- A reminder's variables are written once by the planner and passed on to the
-- notifier as they are: kept as the JSON text they were written as, not
-- parsed into jsonb and printed again. An item key is compared byte by byte.
ALTER TABLE reminders ALTER COLUMN variables TYPE text USING variables::text;
ALTER TABLE reminder_items ALTER COLUMN key TYPE text COLLATE "C";
