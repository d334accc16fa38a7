DROP TABLE IF EXISTS link_requests;
