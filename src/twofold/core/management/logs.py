"""/api/v2/logs, /logs/{id} and /users/{id}/logs over the audit trail.

Events carry Auth0's log event type codes already (`s`, `fp`, `gd_auth_succeed`, …). A log id
is the trail's row number, so it orders events: `from`/`take` pages forward from a checkpoint
(oldest first), `page`/`per_page` pages back from the newest, or forward from the oldest with
`sort=date:1`. `fields`/`include_fields` keep or leave out properties of each event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from twofold.core.deps import Deps
from twofold.core.management import params, projection
from twofold.core.management.errors import ManagementError, bad_query
from twofold.core.management.users import iso, load
from twofold.core.models import AuditEvent

MAX_PER_PAGE = 100
_LOG_ID = re.compile(r"^[0-9]{1,18}$")
_SORTS = {"date:-1": False, "date:1": True}


async def _views(deps: Deps, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    client_names: dict[str, str | None] = {}
    user_names: dict[str, str | None] = {}
    out = []
    for e in events:
        if e.client_id and e.client_id not in client_names:
            client = await deps.client(e.client_id)
            client_names[e.client_id] = client.name if client else None
        if e.user_id and e.user_id not in user_names:
            user = await deps.storage.users.get(e.user_id)
            user_names[e.user_id] = user.email if user else None
        details = {k: v for k, v in e.details.items() if k != "user_agent"}
        item: dict[str, Any] = {
            "log_id": str(e.seq),
            "date": iso(e.at),
            "type": e.type,
            "description": e.description,
            "client_id": e.client_id,
            "client_name": client_names.get(e.client_id) if e.client_id else None,
            "ip": e.ip,
            "user_agent": e.details.get("user_agent"),
            "user_id": e.user_id,
            "user_name": user_names.get(e.user_id) if e.user_id else None,
            "details": details,
        }
        out.append({k: v for k, v in item.items() if v is not None})
    return out


async def list_logs(deps: Deps, query: Mapping[str, str], *, user_id: str | None = None) -> Any:
    checkpoint = query.get("from")
    paging_from = checkpoint is not None or "take" in query
    if user_id is not None:
        await load(deps, user_id)
        filters: dict[str, str] = {}
    elif paging_from:
        # As Auth0: with a checkpoint, the search is ignored.
        filters = {}
    else:
        # Auth0's SDKs send the search as `search` (logs) or `q` (older clients).
        q = query.get("q") or query.get("search") or ""
        if len(q) > 1024:
            raise bad_query("q is too long")
        filters = params.search(q, ("type", "user_id"))
    who = user_id if user_id is not None else filters.get("user_id")
    types = [filters["type"]] if "type" in filters else []
    shown = projection.from_query(query)
    if paging_from:
        if checkpoint and _LOG_ID.fullmatch(checkpoint) is None:
            raise bad_query("from must be a log_id")
        take = params.integer(query, "take", 50, 1, MAX_PER_PAGE)
        events, _ = await deps.storage.audit.page(
            user_id=who, types=types, after_seq=int(checkpoint) if checkpoint else 0, limit=take
        )
        return [shown.apply(item) for item in await _views(deps, events)]
    paging = params.paging(query, 100_000, MAX_PER_PAGE)
    sort = query.get("sort") or "date:-1"
    if sort not in _SORTS:
        raise bad_query("sort must be date:1 or date:-1")
    events, total = await deps.storage.audit.page(
        user_id=who,
        types=types,
        offset=paging.start,
        limit=paging.per_page,
        # The oldest first is the order of a checkpoint before the first event.
        after_seq=0 if _SORTS[sort] else None,
    )
    items = [shown.apply(item) for item in await _views(deps, events)]
    return paging.answer(items, total, "logs")


async def get_log(deps: Deps, log_id: str) -> dict[str, Any]:
    if _LOG_ID.fullmatch(log_id) is None or int(log_id) < 1:
        raise ManagementError(404, "inexistent_log", "Log event not found")
    events, _ = await deps.storage.audit.page(after_seq=int(log_id) - 1, limit=1)
    if not events or events[0].seq != int(log_id):
        raise ManagementError(404, "inexistent_log", "Log event not found")
    return (await _views(deps, events))[0]
