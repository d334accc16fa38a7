DROP TABLE IF EXISTS login_failures;
DROP TABLE IF EXISTS rate_limit_counters;
