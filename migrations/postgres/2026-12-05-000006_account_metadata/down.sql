ALTER TABLE accounts DROP COLUMN metadata;
