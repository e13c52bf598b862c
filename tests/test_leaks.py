"""The leak detector behind the pool's teardown checks: it reports a segment nobody holds and
stays silent about one that is held or that its owner removes while it looks."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.support import leaks

pytestmark = pytest.mark.skipif(not leaks.SHM.is_dir(), reason="no /dev/shm on this host")


@pytest.fixture
def segment():
    path = leaks.SHM / f"conformance-leak-check-{uuid.uuid4().hex}"
    before = leaks.shm_entries()
    yield path, before
    path.unlink(missing_ok=True)


def test_a_segment_nobody_holds_is_reported(segment):
    path, before = segment
    path.write_bytes(b"x")
    assert leaks.orphaned_shm(before, settle=0.5) == [path.name]


def test_a_segment_this_process_holds_open_is_not_reported(segment):
    path, before = segment
    with path.open("wb") as held:
        held.write(b"x")
        held.flush()
        assert path.name not in leaks.orphaned_shm(before, settle=0.5)


def test_a_segment_its_owner_removes_while_we_look_is_not_reported(segment):
    path, before = segment
    path.write_bytes(b"x")
    threading.Timer(0.3, path.unlink).start()
    assert path.name not in leaks.orphaned_shm(before, settle=2.0)


def test_segments_older_than_the_snapshot_are_not_blamed(segment):
    path, _ = segment
    path.write_bytes(b"x")
    assert path.name not in leaks.orphaned_shm(leaks.shm_entries(), settle=0.2)
