-- The queue (`Store::queue_page`): open threads in queue order, so that a page of the queue
-- reads that page from the index instead of sorting every open thread (issue 11, item 4).
-- The condition and the columns are exactly the query's WHERE and ORDER BY.
-- Keep in step with the other backend's migration.
CREATE INDEX threads_open_queue ON threads (
    risk_rank DESC,
    (CASE WHEN waiting_since IS NULL THEN 1 ELSE 0 END),
    waiting_since,
    last_inbound_at,
    id
) WHERE status <> 'closed';
