"""`python -m ci.doctor` against the torch_npu double (tests/fakes/site, the NPU host of
tests/fakes/npu_host.py): a clean host passes with the suite's command, and each broken
environment gives its own FAIL line naming what is wrong and how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "tests" / "fakes" / "site"
STRIP = ("TASK_QUEUE_ENABLE", "TORCH_NPU_COMPACT_ERROR_OUTPUT", "ASCEND_RT_VISIBLE_DEVICES",
         "CONFORMANCE_WORLD_ATTACH", "FAKE_NPU_FAULT_ONCE", "TORCH_DEVICE_BACKEND_AUTOLOAD",
         "ASCEND_LAUNCH_BLOCKING")


def doctor(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    base = {k: v for k, v in os.environ.items() if k not in STRIP}
    base.update({"PYTHONPATH": os.pathsep.join([str(SITE), str(ROOT)]),
                 "CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:torch_npu",
                 "FAKE_PRODUCT": "910_95", "FAKE_NPU_SOC": "Ascend950PR_9599",
                 "FAKE_NPU_DEVICES": "8", "FAKE_NPU_STATE_DIR": str(tmp_path / "npu"),
                 "FAKE_NPU_RECOVERY_SECONDS": "1"})
    base.update(env)
    done = subprocess.run([sys.executable, "-m", "ci.doctor", *args], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, (done.stdout + done.stderr).splitlines()


def line(lines: list[str], start: str) -> str:
    found = [x for x in lines if x.startswith(start)]
    assert found, "\n".join(lines)
    return found[0]


TORCH_NPU = ("--backend", "torch_npu", "--product", "910_95", "--recovery-timeout", "90")


def test_a_clean_host_passes_and_prints_the_suite_command(tmp_path):
    code, lines = doctor(tmp_path, *TORCH_NPU)
    assert code == 0, "\n".join(lines)
    for name in ("torch_npu", "npu_alltoallv_gmm", "task queue", "SoC", "devices", "valid case",
                 "known rejection", "recovery after a kill"):
        assert line(lines, f"[ok  ] {name}:")
    assert "ep 4 on devices 0,1,2,3 (the smallest world 910_95 allows" in line(lines, "[ok  ] valid")
    assert "status 161002" in line(lines, "[ok  ] known rejection")
    assert "accepted a new world within" in line(lines, "[ok  ] recovery after a kill")
    assert lines[-1] == ("run: python -m pytest suites --backend torch_npu --product 910_95 "
                         "--spec-profile cann-2025.12 --devices 0,1,2,3,4,5,6,7")


@pytest.mark.parametrize("env, args, start, says", [
    ({"FAKE_NPU_SOC": "Ascend910B1"}, (), "[FAIL] SoC:",
     "SoC Ascend910B1 is no product of this operator, --product is 910_95; fix: this operator "
     "runs only on A3: Ascend910_93*, 910_95: Ascend910_95*/Ascend950*"),
    ({"FAKE_NPU_SOC": "Ascend910_9391"}, (), "[FAIL] SoC:",
     "SoC Ascend910_9391 is A3, --product is 910_95; fix: run on a host of the named product"),
    ({"ASCEND_RT_VISIBLE_DEVICES": "0,2,1,3"}, (), "[FAIL] devices:",
     "ASCEND_RT_VISIBLE_DEVICES=0,2,1,3 is not ascending: the runtime keeps only 0,2 and drops the "
     "rest silently; fix: list them in ascending order: 0,1,2,3"),
    ({"FAKE_NPU_DEVICES": "2"}, (), "[FAIL] devices:",
     "2 device(s) leased, the smallest world of 910_95 is 4; fix: lease at least 4 devices"),
    ({"FAKE_NPU_DEVICES": "8-15"}, ("--devices", "8-11"), "[FAIL] devices:",
     "--devices=8-11 names id 11, but the runtime sees 8 device(s): ids are logical, 0..7"),
    ({}, ("--backend-option", "device=1"), "[FAIL] backend:",
     "rejected its options {'device': 1}: torch_npu backend: unknown option(s) device"),
    ({"FAKE_TORCH_NPU_NO_OP": "1"}, (), "[FAIL] npu_alltoallv_gmm:",
     "torch_npu 2.14.0+fake has no npu_alltoallv_gmm; fix: install torch_npu with op-plugin 7.1.0"),
    ({"TASK_QUEUE_ENABLE": "2", "CONFORMANCE_WORLD_ATTACH": "127.0.0.1:29400"}, (),
     "[FAIL] task queue:", "TASK_QUEUE_ENABLE='2' in a torchrun-attached world: every expected "
     "rejection would lose its status code; fix: export TASK_QUEUE_ENABLE=1; unset "
     "TORCH_NPU_COMPACT_ERROR_OUTPUT; before torchrun"),
    ({"TORCH_NPU_COMPACT_ERROR_OUTPUT": "1", "CONFORMANCE_WORLD_ATTACH": "127.0.0.1:29400"}, (),
     "[FAIL] task queue:", "TORCH_NPU_COMPACT_ERROR_OUTPUT='1' in a torchrun-attached world"),
])
def test_each_broken_environment_names_what_is_wrong(tmp_path, env, args, start, says):
    code, lines = doctor(tmp_path, *TORCH_NPU, *args, **env)
    assert code == 1, "\n".join(lines)
    assert says in line(lines, start)
    assert line(lines, "[warn] cases on real ranks: not run")
    assert lines[-1].startswith("the suite cannot run here")


def test_task_queue_level2_in_the_callers_environment(tmp_path):
    """Spawned ranks: harmless when the pool pins RANK_ENV (a warning-free ok line says so), and
    caught on real ranks when it does not (the status arrives asynchronously)."""
    code, lines = doctor(tmp_path, *TORCH_NPU, TASK_QUEUE_ENABLE="2")
    assert "the suite pins TASK_QUEUE_ENABLE=1" in line(lines, "[ok  ] task queue:")
    assert "status 161002" in line(lines, "[ok  ] known rejection")
    if code == 1:
        assert "do not run with the pinned environment (TASK_QUEUE_ENABLE=1" in line(
            lines, "[FAIL] synchronous status:")
    else:
        assert code == 0 and not [x for x in lines if x.startswith("[FAIL]")], "\n".join(lines)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    code, lines = doctor(tmp_path, "--backend", "nope")
    assert code == 2 and len(lines) == 1
    assert "--backend: invalid choice: 'nope' (choose from 'torch_npu', 'aclnn')" in lines[0]
    code, lines = doctor(tmp_path, "--backend", "torch_npu", "--backend-option", "device")
    assert code == 2 and len(lines) == 1 and "--backend-option 'device': expected key=value" in \
        lines[0]
    code, lines = doctor(tmp_path, "--backend", "torch_npu", "--spec-profile", "nope")
    assert code == 2 and "unknown spec profile 'nope'; available:" in lines[0]


def test_the_aclnn_path_says_what_it_does_not_check(tmp_path, monkeypatch):
    """Without fixtures.aclnn.preflight the doctor says the check is missing (its own tests
    arrive with it); the rest of the path runs the same shared checks."""
    import fixtures.aclnn as A
    from ci import doctor as D
    from tests.fakes.build import build, default_root

    lib_dir = build(default_root())

    monkeypatch.delattr(A, "preflight", raising=False)
    monkeypatch.setattr(D, "world_checks", lambda *a, **k: [])
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1,2,3")
    lines: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    code = D.main(["--backend", "aclnn", "--product", "910_95", "--backend-option",
                   f"lib_dir={lib_dir}"])
    assert "fixtures.aclnn defines no preflight(product, env)" in line(lines, "[warn] aclnn "
                                                                             "preflight:")
    assert line(lines, "[ok  ] backend: --backend aclnn --backend-option lib_dir=")
    assert line(lines, "[ok  ] devices: 4 device(s) leased (0,1,2,3)")
    assert code == 0 and lines[-1].startswith("run: python -m pytest suites --backend aclnn "
                                              "--product 910_95")
