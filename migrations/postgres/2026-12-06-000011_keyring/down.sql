ALTER TABLE accounts DROP COLUMN secret_key_id;
DROP TABLE key_events;
DROP TABLE replicas;
DROP TABLE retired_keys;
DROP TABLE keyring;
