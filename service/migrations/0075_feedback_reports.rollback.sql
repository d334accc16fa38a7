DROP TABLE IF EXISTS feedback_reports;
