DROP INDEX instances_org_id_uq;
DROP INDEX accounts_org_id_live_uq;
DROP INDEX apps_org_id_live_uq;
DROP INDEX identities_org_id_live_uq;
