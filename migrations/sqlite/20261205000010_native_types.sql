-- PostgreSQL moves identifiers, moments and days to its native types in this
-- version. SQLite's own representation of all three is text, which it keeps: the
-- version exists here so both backends share one schema history.
select 1;
