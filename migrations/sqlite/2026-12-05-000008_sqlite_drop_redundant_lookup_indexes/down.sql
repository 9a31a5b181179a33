CREATE UNIQUE INDEX identities_org_id_live_uq ON identities (org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX apps_org_id_live_uq ON apps (org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX accounts_org_id_live_uq ON accounts (org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX instances_org_id_uq ON instances (org_id, id);
