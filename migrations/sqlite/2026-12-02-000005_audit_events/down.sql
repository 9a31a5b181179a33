DROP TABLE audit_sequencer;
DROP TABLE audit_events;
