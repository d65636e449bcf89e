"""Generic HTTP: ``http.request`` for any API and ``webhook.post`` with signed, idempotent deliveries."""
