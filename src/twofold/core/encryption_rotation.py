"""Re-encrypt every secret at rest under the current key (`twofold keys rotate-encryption`).

Without downtime, in batches: each batch is one short write transaction of compare-and-set
updates, so servers keep reading and writing throughout; a cell a server changed meanwhile is
left alone (whatever it wrote is sealed with a key the ring holds) and looked at again on the
next pass. Passes repeat until one finds nothing left under another key. Then the old key can
be removed from TWOFOLD_ENCRYPTION_KEYS. See docs/configuration.md for the whole procedure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from twofold.core import associated_data
from twofold.core.crypto import DecryptionError, KeyRing
from twofold.core.ports import EncryptedColumns

MAX_PASSES = 5


@dataclass
class RotationReport:
    current: str
    reencrypted: int = 0
    already_current: int = 0
    # Cells no key in the ring opens: "<column> <primary key>". Never the envelope.
    unreadable: list[str] = field(default_factory=list)
    # Cells still under another key after the last pass (changed concurrently every time).
    remaining: int = 0
    passes: int = 0
    # Cells per key id as the last pass found them (before it re-encrypted them).
    by_kid: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.unreadable and self.remaining == 0


def _kid(envelope: str) -> str:
    parts = envelope.split(".")
    return parts[1] if len(parts) == 3 else "?"


def _reseal(keyring: KeyRing, column: str, key: str, envelope: str) -> str:
    return keyring.reencrypt(envelope, associated_data.for_cell(column, key))


async def rotate(
    cells: EncryptedColumns,
    keyring: KeyRing,
    *,
    batch: int = 500,
    dry_run: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt (or, with dry_run, count) every cell not sealed with the current key."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    report = RotationReport(current=keyring.current)
    for n in range(1, MAX_PASSES + 1):
        report.passes = n
        report.by_kid = {}
        report.unreadable = []
        left = 0
        for column in associated_data.COLUMNS:
            after: str | None = None
            while True:
                page = await cells.page(column, after, batch)
                if not page:
                    break
                after = page[-1][0]
                changes: list[tuple[str, str, str]] = []
                for key, envelope in page:
                    kid = _kid(envelope)
                    report.by_kid[kid] = report.by_kid.get(kid, 0) + 1
                    if kid == keyring.current:
                        if n == 1:
                            report.already_current += 1
                        continue
                    try:
                        sealed = _reseal(keyring, column, key, envelope)
                    except DecryptionError:
                        report.unreadable.append(f"{column} {key}")
                        continue
                    changes.append((key, envelope, sealed))
                if dry_run:
                    left += len(changes)
                    continue
                if changes:
                    applied = await cells.replace(column, changes)
                    report.reencrypted += applied
                    left += len(changes) - applied
                    if progress is not None:
                        progress(column, applied)
        report.remaining = left
        if dry_run or left == 0:
            break
    return report
