"""Worlds started by torchrun (the multi-machine path, here on one machine): the pytest side
attaches, drives cases, survives a crashed rank through torchrun's restart, and ends torchrun."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from fixtures.backends import BackendSpec
from fixtures.pool import ProcessWorld
from tests.support import leaks
from tests.support.pool_cases import any_world_plan, result_of

ROOT = Path(__file__).resolve().parent.parent
FAULTY = BackendSpec("tests.support.pool_backends:faulty", {"behavior": "doc"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "CONFORMANCE_CONNECT_TIMEOUT": "30", **extra}


def test_a_torchrun_world_is_driven_restarted_and_ended(tmp_path: Path) -> None:
    port, fault = _free_port(), tmp_path / "fault.json"
    torchrun = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "--max-restarts", "2", "-m", "fixtures.pool", "--attach", f"127.0.0.1:{port}"],
        cwd=ROOT, env=_env(POOL_FAULT_FILE=str(fault)), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        world = ProcessWorld(2, FAULTY, timeout=20, attach=f"127.0.0.1:{port}", leaser=None,
                             start_timeout=120)
        plan = any_world_plan(2, 31)
        first = result_of(plan, world.run(plan))
        assert first.passed, [f.message for f in first.findings]
        fault.write_text(json.dumps({"id": uuid.uuid4().hex, "rank": 1, "kinds": ["sigkill"]}))
        crashed = result_of(plan, world.run(plan))
        named = [f for f in crashed.findings if f.rank == 1 and f.kind == "crash"]
        assert named and "rank 1 disconnected" in named[0].message
        again = result_of(plan, world.run(plan))  # the ranks torchrun started anew
        assert again.passed, [f.message for f in again.findings]
        assert world.generation == 2
        world.close()
        _, err = torchrun.communicate(timeout=120)
        assert torchrun.returncode == 0, err[-2000:]
        assert not leaks.pids_with(str(fault)), "a rank outlived torchrun"
    finally:
        if torchrun.poll() is None:  # torchrun passes SIGTERM on to its workers
            torchrun.send_signal(signal.SIGTERM)
            try:
                torchrun.wait(timeout=30)
            except subprocess.TimeoutExpired:
                torchrun.kill()
                torchrun.wait()



def test_no_torchrun_rank_arriving_is_one_clear_finding() -> None:
    world = ProcessWorld(2, FAULTY, timeout=5, attach=f"127.0.0.1:{_free_port()}", leaser=None,
                         start_timeout=0.5)
    reports = world.run(any_world_plan(2, 1))
    world.close()
    message = reports[0].findings[0].message
    assert message.startswith("the world of 2 ranks did not start: no rank of the torchrun world "
                              "connected to 127.0.0.1:")
    assert "-m fixtures.pool --attach" in message


def test_an_unreachable_rendezvous_is_named(tmp_path: Path) -> None:
    driver, master = _free_port(), _free_port()
    world = ProcessWorld(2, FAULTY, timeout=5, attach=f"127.0.0.1:{driver}", leaser=None,
                         start_timeout=60)
    env = _env(RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(master),
               CONFORMANCE_CONNECT_TIMEOUT="1")
    rank = subprocess.Popen([sys.executable, "-m", "fixtures.pool", "--attach",
                             f"127.0.0.1:{driver}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reports = world.run(any_world_plan(2, 1))
    world.close()
    assert rank.wait(timeout=60) == 1
    message = reports[0].findings[0].message
    assert (f"rank 1 failed to start: rank 1 could not join the torchrun rendezvous at "
            f"127.0.0.1:{master}") in message, message


def test_a_rank_without_a_driver_says_how_to_start_one() -> None:
    env = _env(RANK="0", WORLD_SIZE="2", CONFORMANCE_CONNECT_TIMEOUT="0.5")
    port = _free_port()
    proc = subprocess.run([sys.executable, "-m", "fixtures.pool", "--attach", f"127.0.0.1:{port}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"fixtures.pool: cannot reach the driver at 127.0.0.1:{port} ([Errno 111] Connection "
        f"refused); start pytest with --world-attach 127.0.0.1:{port} (the address this rank was "
        "given with --attach or CONFORMANCE_DRIVER)"]
    bad = subprocess.run([sys.executable, "-m", "fixtures.pool", "--bogus"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "accepted: --attach HOST:PORT" in bad.stderr
