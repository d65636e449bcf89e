"""Alert ingestion: the HTTP receiver, the Elasticsearch poller, trigger matching, hunts on a clock.

Modules, one job each: ``config`` (credentials and limits), ``auth`` (signatures and tokens),
``body`` (reading and parsing hostile request bodies), ``ratelimit``, ``triggers`` (which playbooks
an alert starts), ``dispatch`` (starting or joining runs, dedup window), ``core`` (the path the
receiver, the poller and replays share), ``alert_log`` and ``dead_letters`` (what happened to each
alert), ``es_refs`` (completing Kibana id-only payloads), ``receiver`` / ``server`` (the Starlette
app and its uvicorn runner), ``poller`` / ``poller_activity`` / ``poller_schedule`` (the Temporal
Schedule that polls Elastic Security), ``hunts`` (scheduled playbooks) and ``sender``
(``fireline alerts send``).
"""
