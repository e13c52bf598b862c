"""`python -m ci.doctor` against both doubles on the NPU host of tests/fakes/npu_host.py (the fake
torch_npu of tests/fakes/site, the C fake of tests/fakes/acl): a clean host passes with the
suite's command, and each broken environment gives its own FAIL line naming what is wrong and how
to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "tests" / "fakes" / "site"
STRIP = ("TASK_QUEUE_ENABLE", "TORCH_NPU_COMPACT_ERROR_OUTPUT", "DISABLE_L2_CACHE", "ACLNN_CACHE_LIMIT",
         "ASCEND_RT_VISIBLE_DEVICES",
         "CONFORMANCE_WORLD_ATTACH", "FAKE_NPU_FAULT_ONCE", "TORCH_DEVICE_BACKEND_AUTOLOAD",
         "ASCEND_LAUNCH_BLOCKING", "ASCEND_OPP_PATH", "ASCEND_HOME_PATH", "ASCEND_TOOLKIT_HOME",
         "ASCEND_CUSTOM_OPP_PATH", "FAKE_ACL_NO_V2", "FAKE_ACL_LIB_DIR")
TORCH_NPU_ENV = {"PYTHONPATH": os.pathsep.join([str(SITE), str(ROOT)]),
                 "CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:torch_npu"}


def doctor(tmp_path: Path, *args: str, backend_env: dict[str, str] | None = None,
           **env: str) -> tuple[int, list[str]]:
    """The doctor in a fresh process on a 910_95 host of 8 devices that recover in a second;
    `backend_env` puts the backend's double in place (default: the fake torch_npu)."""
    base = {k: v for k, v in os.environ.items() if k not in STRIP}
    base.update({"FAKE_PRODUCT": "910_95", "FAKE_NPU_SOC": "Ascend950PR_9599",
                 "FAKE_NPU_DEVICES": "8", "FAKE_NPU_STATE_DIR": str(tmp_path / "npu"),
                 "FAKE_NPU_RECOVERY_SECONDS": "1"})
    base.update(TORCH_NPU_ENV if backend_env is None else backend_env)
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
    for name in ("torch_npu", "npu_alltoallv_gmm", "task queue", "aclnn cache", "SoC", "devices",
                 "valid case", "known rejection", "recovery after a kill"):
        assert line(lines, f"[ok  ] {name}:")
    assert "ep 4 on devices 0,1,2,3 (the smallest world 910_95 allows" in line(lines, "[ok  ] valid")
    assert "status 161002" in line(lines, "[ok  ] known rejection")
    assert "accepted a new world within" in line(lines, "[ok  ] recovery after a kill")
    assert lines[-1] == ("run: python -m pytest suites --backend torch_npu --product 910_95 "
                         "--spec-profile cann-2026.07 --devices 0,1,2,3,4,5,6,7")


def test_a_clean_host_passes_for_the_combine_operator_and_names_it_in_the_command(tmp_path):
    code, lines = doctor(tmp_path, *TORCH_NPU, "--operator", "gmm_alltoallv")
    assert code == 0, "\n".join(lines)
    for name in ("npu_gmm_alltoallv", "valid case", "known rejection", "recovery after a kill"):
        assert line(lines, f"[ok  ] {name}:")
    assert lines[-1] == ("run: python -m pytest suites --operator gmm_alltoallv --backend "
                         "torch_npu --product 910_95 --spec-profile cann-2026.07 "
                         "--devices 0,1,2,3,4,5,6,7")


def assert_names_the_fault(code: int, lines: list[str], start: str, says: str) -> None:
    """A broken host: exit 1, the FAIL line saying what is wrong and the fix, no cases run."""
    assert code == 1, "\n".join(lines)
    assert says in line(lines, start)
    assert line(lines, "[warn] cases on real ranks: not run")
    assert lines[-1].startswith("the suite cannot run here")


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
    ({"TASK_QUEUE_ENABLE": "1", "CONFORMANCE_WORLD_ATTACH": "127.0.0.1:29400"}, (),
     "[FAIL] aclnn cache:", "DISABLE_L2_CACHE unset in a torchrun-attached world: a call identical "
     "to an earlier success would skip its first stage (torch_npu's aclnn cache); fix: export "
     "DISABLE_L2_CACHE=1; before torchrun"),
])
def test_each_broken_environment_names_what_is_wrong(tmp_path, env, args, start, says):
    assert_names_the_fault(*doctor(tmp_path, *TORCH_NPU, *args, **env), start, says)


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
    assert code == 2 and "unknown spec profile 'nope' of aclnnAlltoAllvGroupedMatMul; available:" in lines[0]


def test_the_aclnn_path_says_what_it_does_not_check(tmp_path, monkeypatch):
    """A backend module without preflight(): the doctor says what goes unchecked (a warning, not
    a failure); the rest of the path runs the same shared checks."""
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


# -- --backend aclnn against the C fake -------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_lib() -> Path:
    from tests.fakes.build import build, default_root

    return build(default_root())


def aclnn_install(tmp_path: Path, fake_lib: Path, kind: str) -> Path:
    """A CANN lib64 for `kind`: the fake itself, one without a kernel package next to it (and no
    ASCEND_OPP_PATH), or one whose libopapi.so lacks the operator's symbols."""
    if kind == "fake":
        return fake_lib
    lib64 = tmp_path / "cann" / "lib64"
    lib64.mkdir(parents=True)
    for name in ("libascendcl.so", "libnnopbase.so", "libhccl.so"):
        (lib64 / name).symlink_to(fake_lib / name)
    if kind == "no_opp":
        (lib64 / "libopapi.so").symlink_to(fake_lib / "libopapi.so")
        return lib64
    assert kind == "no_op"
    (tmp_path / "cann" / "opp").symlink_to(fake_lib.parent / "opp")
    src = tmp_path / "empty.c"
    src.write_text("int an_operator_library_without_the_op;\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib64 / "libopapi.so"), str(src)],
                   check=True)
    return lib64


def aclnn_doctor(tmp_path: Path, lib64: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    """The doctor on --backend aclnn --backend-option lib_dir=`lib64`, its ranks on the C fake."""
    return doctor(tmp_path, "--backend", "aclnn", "--product", "910_95", "--recovery-timeout", "90",
                  "--backend-option", f"lib_dir={lib64}", *args,
                  backend_env={"PYTHONPATH": str(ROOT), "FAKE_ACL_LIB_DIR": str(lib64),
                               "CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:aclnn"}, **env)


def test_aclnn_a_clean_host_passes_and_prints_the_suite_command(tmp_path, fake_lib):
    code, lines = aclnn_doctor(tmp_path, fake_lib)
    assert code == 0, "\n".join(lines)
    for name in ("CANN lib64", "ASCEND_OPP_PATH", "kernel binaries", "operator library",
                 "V2 entry point", "driver libraries", "device count", "SoC", "devices",
                 "valid case", "known rejection", "recovery after a kill"):
        assert line(lines, f"[ok  ] {name}:")
    assert f"from {fake_lib / 'libopapi.so'}" in line(lines, "[ok  ] operator library")
    assert "8 device(s) leased (0,1,2,3,4,5,6,7) of 8 visible" in line(lines, "[ok  ] devices:")
    assert "ep 4 on devices 0,1,2,3" in line(lines, "[ok  ] valid case")
    assert "status 161002" in line(lines, "[ok  ] known rejection")
    assert "accepted a new world within" in line(lines, "[ok  ] recovery after a kill")
    assert lines[-1] == ("run: python -m pytest suites --backend aclnn --product 910_95 "
                         "--spec-profile cann-2026.07 --devices 0,1,2,3,4,5,6,7 "
                         f"--backend-option lib_dir={fake_lib}")


@pytest.mark.parametrize("kind, env, start, says", [
    ("no_opp", {}, "[FAIL] ASCEND_OPP_PATH:",
     "cann/opp does not exist; fix: install the opp kernel package, or source the CANN set_env.sh"),
    ("fake", {"FAKE_NPU_SOC": "Ascend910_9391"}, "[FAIL] SoC:",
     "SoC Ascend910_9391 is A3, --product is 910_95; fix: run on a host of the named product"),
    ("fake", {"FAKE_NPU_SOC": "Ascend910B1"}, "[FAIL] SoC:",
     "SoC Ascend910B1 is no product of this operator, --product is 910_95; fix: this operator "
     "runs only on A3: Ascend910_93*, 910_95: Ascend910_95*/Ascend950*"),
    ("fake", {"ASCEND_RT_VISIBLE_DEVICES": "0,2,1,3"}, "[FAIL] devices:",
     "ASCEND_RT_VISIBLE_DEVICES=0,2,1,3 is not ascending: the runtime keeps only 0,2 and drops the "
     "rest silently; fix: list them in ascending order: 0,1,2,3"),
    ("fake", {"FAKE_NPU_DEVICES": "2"}, "[FAIL] devices:",
     "2 device(s) leased, the smallest world of 910_95 is 4; fix: lease at least 4 devices"),
    ("no_op", {}, "[FAIL] operator library:",
     "nothing exports aclnnAlltoAllvGroupedMatMulGetWorkspaceSize (searched: "),
])
def test_aclnn_each_broken_environment_names_what_is_wrong(tmp_path, fake_lib, kind, env, start,
                                                           says):
    lib64 = aclnn_install(tmp_path, fake_lib, kind)
    code, lines = aclnn_doctor(tmp_path, lib64, **env)
    assert_names_the_fault(code, lines, start, says)
    if kind == "no_op":
        assert f"{lib64 / 'libopapi.so'}); fix: install the ops-transformer package" in line(
            lines, start)
        assert "no operator library exports" in line(lines, "[FAIL] backend:")
