"""What both apps' state helpers share about the Dapr state API (``state.redis``)."""

from __future__ import annotations


def is_conflict(exc: Exception) -> bool:
    """Whether a Dapr state error is a lost optimistic-concurrency race (stale ETag, or a
    first-write on a key that now exists), which the caller retries, rather than a fault.

    The SDKs raise a gRPC error whose text is all that tells them apart; these are the
    texts daprd 1.18.2 gives for state.redis (``possible etag mismatch``, ``failed to set
    key`` on a first-write of an existing key, ``ABORTED`` for a failed transaction).
    """
    text = str(exc).lower()
    return "etag" in text or "failed to set key" in text or "aborted" in text
