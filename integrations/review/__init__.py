"""Post-incident review: timeline, response times, decisions and follow-ups from the audit trail."""
