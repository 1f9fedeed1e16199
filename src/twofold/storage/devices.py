"""The push-device side of an authenticator row: bind a device to a push authenticator once.

Kept apart from `credentials.py` because only the push protocol uses it. The device's key and
notification target arrive encrypted by the core (`device_enc`) and go into the row's
`target_enc`; the device name into `name`.
"""

from __future__ import annotations

import sqlalchemy as sa

from twofold.storage import tables as t
from twofold.storage.base import SqlRepository


class SqlPushDeviceRepository(SqlRepository):
    _t = t.authenticators

    async def attach(self, authenticator_id: str, name: str, device_enc: str) -> bool:
        # Conditional on "no device yet", so one enrolment transaction binds one device.
        bound = await self._write(
            sa.update(self._t)
            .where(
                self._t.c.id == authenticator_id,
                self._t.c.kind == "push",
                self._t.c.target_enc.is_(None),
            )
            .values(name=name[:255], target_enc=device_enc)
        )
        return bound == 1
