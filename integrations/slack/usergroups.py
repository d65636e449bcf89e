"""Slack user groups: find one by handle or id, and which groups a user belongs to (cached)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger("fireline.slack")
DEFAULT_TTL_S = 300.0


@dataclass(frozen=True)
class UserGroup:
    """One Slack user group (``subteam``)."""

    id: str
    handle: str
    name: str = ""


def list_groups(client: WebClient) -> list[UserGroup]:
    """Every enabled user group of the workspace."""
    response = client.usergroups_list(include_disabled=False)
    groups = []
    for item in response.get("usergroups") or []:
        if isinstance(item, dict) and item.get("id"):
            groups.append(
                UserGroup(
                    id=str(item["id"]), handle=str(item.get("handle", "")), name=str(item.get("name", ""))
                )
            )
    return groups


def find_group(client: WebClient, ref: str) -> UserGroup | None:
    """The group whose id or handle (with or without ``@``/``group:``) is ``ref``."""
    wanted = ref.removeprefix("group:").lstrip("@")
    for group in list_groups(client):
        if wanted in (group.id, group.handle):
            return group
    return None


def members(client: WebClient, group_id: str) -> list[str]:
    """User ids in the group."""
    response = client.usergroups_users_list(usergroup=group_id)
    return [str(u) for u in response.get("users") or []]


class GroupMembership:
    """Which groups a Slack user is in, from usergroups.list + usergroups.users.list, cached for a TTL.

    The whole map is refreshed at once when it is older than ``ttl_s``; a user removed from a
    group therefore loses approval rights within one TTL. When Slack cannot be asked (missing
    ``usergroups:read`` scope, outage), the last known map is kept, or no groups are known.
    """

    def __init__(
        self,
        client_factory: Callable[[], WebClient],
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_factory = client_factory
        self._ttl_s = ttl_s
        self._clock = clock
        self._by_user: dict[str, list[str]] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def groups_of(self, user_id: str) -> list[str]:
        """Ids and handles of the groups ``user_id`` belongs to (both, so either spelling matches)."""
        with self._lock:
            if self._loaded_at is None or self._clock() - self._loaded_at > self._ttl_s:
                self._refresh()
            return list(self._by_user.get(user_id, []))

    def invalidate(self) -> None:
        """Forget the cached map; the next lookup asks Slack again."""
        with self._lock:
            self._loaded_at = None

    def _refresh(self) -> None:
        try:
            client = self._client_factory()
            by_user: dict[str, list[str]] = {}
            for group in list_groups(client):
                for user in members(client, group.id):
                    by_user.setdefault(user, []).extend(x for x in (group.id, group.handle) if x)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("cannot read Slack user groups: %s", type(exc).__name__)
            if self._loaded_at is None:
                self._by_user = {}
            return
        self._by_user = by_user
        self._loaded_at = self._clock()
