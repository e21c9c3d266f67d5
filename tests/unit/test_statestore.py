from snacktopus_core.statestore import is_conflict


def test_concurrency_races_are_told_from_faults():
    assert is_conflict(RuntimeError("possible etag mismatch. error from state store"))
    assert is_conflict(RuntimeError("failed to set key workflow-host||reserved:X"))
    assert is_conflict(RuntimeError("StatusCode.ABORTED: transaction failed"))
    assert not is_conflict(RuntimeError("connection refused"))
    assert not is_conflict(RuntimeError("state store orderstate is not found"))
