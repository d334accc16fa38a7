DROP TABLE IF EXISTS annotations;
DROP TABLE IF EXISTS project_access;
DROP TABLE IF EXISTS projects;
