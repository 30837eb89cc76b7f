-- 0006: indexes for the application lists, which show the newest change
-- first a page at a time: an enterprise's own list, and a queue by state.
-- With them a page of 50 is read in index order without sorting the table.
CREATE INDEX desk_applications_by_enterprise_updated ON desk_applications (uscc, updated_at);
CREATE INDEX desk_applications_by_state_updated ON desk_applications (state, updated_at);
CREATE INDEX desk_applications_by_updated ON desk_applications (updated_at);
