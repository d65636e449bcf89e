"""The security audit trail: callers never wait for storage, and nothing is lost or reordered."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from engine.activities.audit import AuditStore
from engine.plan.audit import AuditEvent, verify_chain
from engine.security_audit import SecurityAudit
from engine.stack.processes import free_port


def _file_events(audit: SecurityAudit) -> list[AuditEvent]:
    return [AuditEvent.model_validate(json.loads(line)) for line in audit.path.read_text().splitlines()]


def test_events_from_many_threads_are_written_in_chain_order_by_close(tmp_path: Path) -> None:
    audit = SecurityAudit(None, tmp_path)

    def refuse(worker: int) -> None:
        for i in range(50):
            audit(
                {"kind": "access.refused", "reason": f"bad token {worker}/{i}", "remote_addr": "203.0.113.9"}
            )

    threads = [threading.Thread(target=refuse, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    audit.close()
    events = _file_events(audit)
    assert [e.seq for e in events] == list(range(1, 201))
    assert verify_chain(audit.chain.run_id, events).ok
    assert {e.outcome for e in events} == {"refused"} and events[0].detail["remote_addr"] == "203.0.113.9"


def test_an_unreachable_cluster_loses_nothing(tmp_path: Path) -> None:
    audit = SecurityAudit(AuditStore(f"http://127.0.0.1:{free_port()}"), tmp_path)
    for i in range(3):
        audit({"kind": "slack.request_refused", "reason": f"forged {i}"})
    assert audit.flush(60)
    assert [e.seq for e in _file_events(audit)] == [1, 2, 3]
    # Still pending for Elasticsearch: the next write sends them again.
    assert [e.seq for e in audit.chain.pending] == [1, 2, 3]
    audit.close()
    audit({"kind": "access.logout", "outcome": "ok"})  # after shutdown: written by the caller
    assert [e.seq for e in _file_events(audit)] == [1, 2, 3, 4]
