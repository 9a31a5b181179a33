-- Children first (foreign keys). Indexes go with their tables.
DROP TABLE service_tokens;
DROP TABLE instances;
DROP TABLE accounts;
DROP TABLE apps;
DROP TABLE identities;
