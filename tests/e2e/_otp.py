"""TOTP codes computed with pyca/cryptography, independently of the server's own OTP code."""

from __future__ import annotations

import base64
import time

import anyio
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

PERIOD = 30
DIGITS = 6
MAX_STEP_WAIT = PERIOD + 2.0


def secret_bytes(secret_b32: str) -> bytes:
    cleaned = secret_b32.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // PERIOD)


def code_for_step(secret_b32: str, step: int) -> str:
    totp = TOTP(secret_bytes(secret_b32), DIGITS, SHA1(), PERIOD, enforce_key_length=False)
    return totp.generate(step * PERIOD).decode()


def wrong_code(secret_b32: str) -> str:
    """A 6-digit code that is valid for none of the steps around now."""
    step = current_step()
    valid = {code_for_step(secret_b32, s) for s in range(step - 2, step + 3)}
    candidate = int(code_for_step(secret_b32, step))
    while f"{candidate:06d}" in valid:
        candidate = (candidate + 1) % 10**DIGITS
    return f"{candidate:06d}"


async def step_after(last_used_step: int) -> int:
    """The current step once it is later than `last_used_step`, waiting (bounded) if needed.

    The server accepts a TOTP step at most once per authenticator, so a test that already spent
    the current step waits for the next one; never more than one period.
    """
    deadline = time.monotonic() + MAX_STEP_WAIT
    while (step := current_step()) <= last_used_step:
        if time.monotonic() > deadline:
            raise AssertionError(f"clock did not reach TOTP step {last_used_step + 1}")
        remaining = (last_used_step + 1) * PERIOD - time.time()
        await anyio.sleep(min(max(remaining, 0.05), 1.0))
    return step


async def step_with_time_left(margin: float) -> int:
    """The current step once at least `margin` seconds of it remain (waits at most `margin`)."""
    left = PERIOD - time.time() % PERIOD
    if left < margin:
        await anyio.sleep(left + 0.05)
    return current_step()
