-- Day listings (today's papers, trending over a day / week / month) look papers up by the date
-- they were first published, besides their announcements.
CREATE INDEX papers_published ON papers (published);
