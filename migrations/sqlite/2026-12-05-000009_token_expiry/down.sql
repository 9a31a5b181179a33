ALTER TABLE service_tokens DROP COLUMN expires_at;
