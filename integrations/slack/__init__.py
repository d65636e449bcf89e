"""Slack: messages, incident channels, file uploads and approval buttons."""
