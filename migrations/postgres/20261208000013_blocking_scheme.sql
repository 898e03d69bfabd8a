-- The blocking scheme a subject's buckets were made with: subjects stored under an
-- older scheme are given the current one's buckets at start-up (issue 16, keys
-- selective at national scale).
alter table subject_encoding add column blocking integer not null default 1;
