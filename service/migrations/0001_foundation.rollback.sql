DROP TABLE IF EXISTS teacher_student_links;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS users;
