DROP INDEX task_runs_lease;
ALTER TABLE task_runs DROP COLUMN lease_until;
ALTER TABLE task_runs DROP COLUMN lease_owner;
DROP TABLE servers;
