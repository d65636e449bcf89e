"""Email: ``email.send`` over SMTP with STARTTLS, bodies from Jinja templates."""
