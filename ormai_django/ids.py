"""Public identifiers: a short prefix and a ULID, sortable by creation time."""

from ulid import ULID


def new_id(prefix: str) -> str:
    """``new_id("aud")`` -> ``"aud_01JD5..."``."""
    return f"{prefix}_{ULID()}"
