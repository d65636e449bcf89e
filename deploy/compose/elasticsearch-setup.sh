#!/bin/bash
# Security for the compose Elasticsearch: a CA and a node certificate, the kibana_system
# password, and an API key for fireline written to the fireline-secrets volume. Idempotent.
set -euo pipefail
cd /usr/share/elasticsearch
CERTS=config/certs
KEY_FILE=/run/fireline-secrets/ELASTICSEARCH_API_KEY

if [ ! -f "$CERTS/ca.zip" ]; then
  bin/elasticsearch-certutil ca --silent --pem -out "$CERTS/ca.zip"
  unzip -o "$CERTS/ca.zip" -d "$CERTS"
fi
if [ ! -f "$CERTS/certs.zip" ]; then
  cat > "$CERTS/instances.yml" <<'YAML'
instances:
  - name: elasticsearch
    dns: [elasticsearch, localhost]
    ip: [127.0.0.1]
YAML
  bin/elasticsearch-certutil cert --silent --pem -out "$CERTS/certs.zip" --in "$CERTS/instances.yml" \
    --ca-cert "$CERTS/ca/ca.crt" --ca-key "$CERTS/ca/ca.key"
  unzip -o "$CERTS/certs.zip" -d "$CERTS"
fi
# Elasticsearch and Kibana run with group 0 and read keys through it; fireline (uid 10001) mounts
# the same volume and can read only the CA certificate.
chown -R root:root "$CERTS"
find "$CERTS" -type d -exec chmod 755 {} \;
find "$CERTS" -type f -exec chmod 640 {} \;
chmod 644 "$CERTS/ca/ca.crt"
chmod 600 "$CERTS/ca/ca.key"

api() {  # api METHOD PATH [JSON]: call Elasticsearch as the elastic user
  curl -s --fail-with-body --cacert "$CERTS/ca/ca.crt" -u "elastic:${ELASTIC_PASSWORD}" \
    -H 'Content-Type: application/json' -X "$1" "https://elasticsearch:9200$2" ${3:+-d "$3"}
}

until curl -s --cacert "$CERTS/ca/ca.crt" https://elasticsearch:9200 | grep -q 'missing authentication'; do
  echo "waiting for elasticsearch"; sleep 5
done
until api POST /_security/user/kibana_system/_password "{\"password\":\"${KIBANA_PASSWORD}\"}" > /dev/null; do
  echo "waiting to set the kibana_system password"; sleep 5
done

if [ ! -s "$KEY_FILE" ]; then
  # What fireline's Elasticsearch actions need: read alerts and logs, update alert status,
  # write its own indices (fireline-*). Nothing else.
  response=$(api POST /_security/api_key '{
    "name": "fireline",
    "role_descriptors": {
      "fireline": {
        "cluster": ["monitor"],
        "indices": [
          {"names": ["logs-*", ".alerts-*", ".internal.alerts-*"], "privileges": ["read", "view_index_metadata"]},
          {"names": [".alerts-security.alerts-*", ".internal.alerts-security.alerts-*"], "privileges": ["write"]},
          {"names": ["fireline-*"], "privileges": ["create_index", "read", "write", "view_index_metadata"]}
        ]
      }
    }
  }')
  encoded=$(printf '%s' "$response" | grep -o '"encoded":"[^"]*"' | cut -d'"' -f4)
  [ -n "$encoded" ] || { echo "could not create the API key" >&2; exit 1; }
  umask 077
  printf '%s' "$encoded" > "$KEY_FILE"
  chown 10001:10001 "$KEY_FILE"
  chmod 0400 "$KEY_FILE"
fi
echo "elasticsearch security ready"
