-- Projects (PDFs in object storage), per-user sharing, and page annotations.
-- depends: 0001_foundation

CREATE TABLE IF NOT EXISTS projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text CHECK (length(description) <= 5000),
    filename    text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    storage_key text NOT NULL UNIQUE,
    -- pending: waiting for the upload; ready: confirmed PDF; deleting: storage delete in progress
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'deleting')),
    page_count  integer CHECK (page_count > 0),
    file_size   bigint CHECK (file_size > 0),
    etag        text,
    pdf_title   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_ready_has_pages CHECK (status <> 'ready' OR page_count IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS projects_owner_idx ON projects (owner_id, created_at DESC);

CREATE TABLE IF NOT EXISTS project_access (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level      text NOT NULL CHECK (level IN ('view', 'edit', 'admin')),
    granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX IF NOT EXISTS project_access_user_idx ON project_access (user_id);

CREATE TABLE IF NOT EXISTS annotations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    author_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    page       integer NOT NULL CHECK (page >= 1),
    type       text NOT NULL CHECK (type IN ('highlight', 'note', 'drawing')),
    -- Shape validated by the API per type (Pydantic discriminated union); bounded here as a backstop.
    content    jsonb NOT NULL CHECK (pg_column_size(content) <= 1048576),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS annotations_project_page_idx ON annotations (project_id, page, created_at);
