-- Up Migration

-- The request's tags (domain/taxonomy.ts) as `name:value` keywords, every owner included: `type:exception`,
-- `application:payroll`, `owner:carol`, … so lists filter on them with an index (GET /v1/requests?tag=). Requests
-- written before the column take theirs from the view they hold.
ALTER TABLE requests ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
UPDATE requests SET tags = ARRAY(
  SELECT k FROM (
    SELECT 'type:' || (view->'tags'->>'type') AS k WHERE view->'tags'->>'type' IS NOT NULL
    UNION ALL SELECT 'application:' || (view->'tags'->>'application') WHERE view->'tags'->>'application' IS NOT NULL
    UNION ALL SELECT 'sensitivity:' || (view->'tags'->>'sensitivity') WHERE view->'tags'->>'sensitivity' IS NOT NULL
    UNION ALL SELECT 'urgency:' || (view->'tags'->>'urgency') WHERE view->'tags'->>'urgency' IS NOT NULL
    UNION ALL SELECT 'owner:' || o FROM jsonb_array_elements_text(coalesce(view->'tags'->'owners', '[]'::jsonb)) AS o
  ) keywords
)
WHERE view ? 'tags';
CREATE INDEX requests_tags ON requests USING gin (tags);

-- Down Migration
DROP INDEX requests_tags;
ALTER TABLE requests DROP COLUMN tags;
