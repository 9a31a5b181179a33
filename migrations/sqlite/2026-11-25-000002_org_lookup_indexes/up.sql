-- Lookups by id on the request path, leading with the organization (as every request-path index
-- does). Without them PostgreSQL's generic plan for a prepared `WHERE org_id = $1 AND id = $2`
-- can pick a list index, (org_id, created_at, id), whose id column cannot be sought: it then scans
-- the organization's whole range on every request, slower as the organization grows.
CREATE UNIQUE INDEX identities_org_id_live_uq ON identities (org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX apps_org_id_live_uq ON apps (org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX accounts_org_id_live_uq ON accounts (org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX instances_org_id_uq ON instances (org_id, id);
