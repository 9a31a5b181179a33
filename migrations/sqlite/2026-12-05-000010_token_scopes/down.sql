DROP TABLE org_settings;
ALTER TABLE service_tokens DROP COLUMN parent_id;
ALTER TABLE service_tokens DROP COLUMN restriction;
ALTER TABLE service_tokens DROP COLUMN scopes;
