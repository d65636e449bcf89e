#!/bin/sh
# Create Temporal's two PostgreSQL databases and bring their schemas up to date (idempotent).
set -eu
TOOL="temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal"
SCHEMA=/etc/temporal/schema/postgresql/v12

until nc -z -w 10 postgresql 5432; do echo "waiting for postgresql"; sleep 2; done
for db in temporal visibility; do
  name=$([ "$db" = temporal ] && echo temporal || echo temporal_visibility)
  $TOOL --db "$name" create || true  # already there on a restart
  $TOOL --db "$name" setup-schema -v 0.0 || true
  $TOOL --db "$name" update-schema -d "$SCHEMA/$db/versioned"
done
echo "temporal schema ready"
