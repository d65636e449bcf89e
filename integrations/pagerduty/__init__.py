"""PagerDuty: trigger and resolve alerts through the Events API v2."""
