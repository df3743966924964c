DROP INDEX replies_running;
DROP INDEX replies_expires;
DROP TABLE replies;
