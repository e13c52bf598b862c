"""The July 2026 contract versions: every change of contracts/alltoallv_gmm-2026.md and the V2
entry point, checked from both sides under every profile, on the spec (the expectation) and on
the simulator (its first stage), each against a status read by hand from the contract text.

Each row is one world and what each version's first stage returns for it: 0 (accepted, or not
checked), or the status code. A row is a fact of the contract, not of a profile, so a profile or
a sim row that drifts from the text fails here.
"""

from __future__ import annotations

import re

import pytest

from fixtures.backends import BackendSpec
from fixtures.harness import materialise
from fixtures.protocol import RankContext
from fixtures.runner import Worlds, needs
from ops.alltoallv_gmm import OPERATOR as OP
from ops.alltoallv_gmm import available, load
from ops.alltoallv_gmm.case import Case, Fault, Shared
from ops.alltoallv_gmm.sim import BEHAVIORS, SimBackend
from spec.expect import expect_case
from spec.profiles import missing_mappings

PROFILES = ("doc", "cann-2025.12", "cann-2026.07", "doc-2026.07")
NEW = ("cann-2026.07", "doc-2026.07")


def world(product: str = "910_95", ep: int = 4, e: int = 1, rows: int = 1, h1: int = 16,
          n1: int = 8, **kw) -> Case:
    """Every rank sends `rows` rows to every expert of every rank."""
    send = tuple((rows,) * (ep * e) for _ in range(ep))
    return Case(product=product, ep=ep, e=e, h1=h1, n1=n1, send=send, **kw)


def first_stage(behavior: str, case: Case) -> tuple[int, ...]:
    """The sim's first-stage status on every rank."""
    sim = SimBackend(behavior)
    out = []
    for rank in range(case.ep):
        call = case.call(rank)
        mat = materialise(case, rank, call, data_mode=False)
        extra = {"null_outputs": call.null_pointers} if call.null_pointers else {}
        if call.entry == "v2":
            extra["comm_mode"] = call.comm_mode
        ctx = RankContext(rank, case.ep, case.product, comm=None)
        out.append(sim.get_workspace_size(ctx, **mat.kwargs, **extra)[0])
    return tuple(out)


def check_status(case: Case, profile: str, want: int, what: str) -> None:
    """Rank 0 (which breaks the clause in every row) gets `want` from the profile's expectation;
    the sim following the profile returns, rank by rank, what the expectation says."""
    exp = expect_case(case, load(profile))
    assert exp.status1[0] == want, f"profile {profile}: {what}: {exp.describe()}"
    assert first_stage(profile, case) == exp.status1, f"sim behavior={profile}: {what}"


A3_PEER = dict(product="A3", ep=8, h1=16384, rows=64)  # 2 MiB per peer block, both ways


def _peer_gap() -> Case:
    case = world(**A3_PEER)
    send = [list(r) for r in case.send]
    send[0][1] = 0  # rank 0 sends nothing to rank 1: one peer block under the floor
    return case.with_(send=tuple(map(tuple, send)))


def _shared(case: Case, bs: int, h2: int = 16, n2: int = 8, **kw) -> Case:
    return case.with_(shared=Shared((bs,) * case.ep, h2, n2), **kw)


# (what, clause, case, {profile: status}); a status of 0 means the first stage succeeds.
ROWS = [
    ("per-peer floor", "VOLUME.A3.per_peer_min", _peer_gap(),
     {"doc": 0, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("A3 card under 2 MB", "VOLUME.A3.card_min", world("A3", 8, rows=1, h1=16),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("e = 48", "RANGE.e", world(e=48),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("e = 49", "RANGE.e", world(e=49),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 561002, "doc-2026.07": 161002}),
    ("e * ep = 384", "RANGE.e_ep", world("A3", 8, e=48, h1=16384, rows=4),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 561002, "doc-2026.07": 0}),
    ("e * ep = 256", "RANGE.e_ep", world("A3", 8, e=32, h1=16384, rows=4),
     {"doc": 0, "cann-2025.12": 0, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("950 ep = 2", "PRODUCT.910_95.epWorldSize", world(ep=2),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("950 ep = 128, e = 2: 128 groups", "RANGE.group_num", world(ep=128, e=2),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 161002}),
    ("950 ep = 256, e = 1: 256 groups", "RANGE.group_num", world(ep=256),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 561002, "doc-2026.07": 161002}),
    ("gmmY's N1 differs", "SHAPE.gmmY.N1",
     world().with_(faults=(Fault("resize", "gmmY", (1, 1)),)),
     {"doc": 161002, "cann-2025.12": 0, "cann-2026.07": 561002, "doc-2026.07": 161002}),
    ("mmY's N2 differs", "SHAPE.mmY.N2",
     _shared(world(rows=2), 4).with_(faults=(Fault("resize", "mmY", (1, 1)),)),
     {"doc": 161002, "cann-2025.12": 0, "cann-2026.07": 561002, "doc-2026.07": 161002}),
    ("BSK = 8 with BS = 3 (K = 2, remainder 2)", "COUNTS.bsk_multiple", _shared(world(rows=2), 3),
     {"doc": 0, "cann-2025.12": 0, "cann-2026.07": 561002, "doc-2026.07": 0}),
    ("BSK = 8 with BS = 4", "COUNTS.bsk_multiple", _shared(world(rows=2), 4),
     {"doc": 0, "cann-2025.12": 0, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("950: a negative send count", "COUNTS.send_nonneg",
     world(e=2, rows=2).with_(faults=(Fault("counts", "sendCounts", "negative"),)),
     {"doc": 161002, "cann-2025.12": 0, "cann-2026.07": 561002, "doc-2026.07": 161002}),
    ("950: a negative receive count", "COUNTS.recv_nonneg",
     world(e=2, rows=2).with_(faults=(Fault("counts", "recvCounts", "negative"),)),
     {"doc": 161002, "cann-2025.12": 0, "cann-2026.07": 0, "doc-2026.07": 161002}),
    ("transMmWeight without a shared expert", "OPTPAIR.transMm", world(trans_mm_weight=True),
     {"doc": 0, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 0}),
    ("gmmY 3-D (A, N1, 1)", "RANK.gmmY", world().with_(faults=(Fault("rank", "gmmY", 1),)),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 161002}),
    ("N1 = 65536, gmmWeight not transposed", "RANGE.N1", world(n1=65536),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 0, "doc-2026.07": 161002}),
    ("N1 = 65536, gmmWeight transposed", "RANGE.N1", world(n1=65536, trans_gmm_weight=True),
     {"doc": 161002, "cann-2025.12": 561002, "cann-2026.07": 561002, "doc-2026.07": 161002}),
]

V2_ROWS = [  # (what, clause, product, commMode, {profile: status}), V2 profiles only
    ("null", "COMMMODE.null", "910_95", None, {"cann-2026.07": 161002, "doc-2026.07": 161001}),
    ("empty", "COMMMODE.empty", "910_95", "", {"cann-2026.07": 161002, "doc-2026.07": 161002}),
    ("unknown", "PRODUCT.910_95.commMode", "910_95", "aicpu",
     {"cann-2026.07": 161002, "doc-2026.07": 161002}),
    ("ccu on 950", "PRODUCT.910_95.commMode", "910_95", "ccu",
     {"cann-2026.07": 0, "doc-2026.07": 0}),
    ("ccu on A3", "PRODUCT.A3.commMode", "A3", "ccu",
     {"cann-2026.07": 161002, "doc-2026.07": 161002}),
    ("ai_cpu on A3", "PRODUCT.A3.commMode", "A3", "ai_cpu",
     {"cann-2026.07": 0, "doc-2026.07": 0}),
]


@pytest.mark.parametrize("what, clause, case, statuses", ROWS, ids=[r[0] for r in ROWS])
@pytest.mark.parametrize("profile", PROFILES)
def test_each_change_under_each_version(what, clause, case, statuses, profile):
    """The profile's expectation and the sim's first stage both give the text's status."""
    want = statuses[profile]
    check_status(case, profile, want, what)
    if want and profile == "cann-2026.07":  # the status is this clause's, not another's
        assert expect_case(case, load(profile)).clause == clause


def _v2(product: str, mode: str | None) -> Case:
    case = world(product, 8, rows=1) if product == "A3" else world()
    return case.with_(entry="v2", comm_mode=mode)


@pytest.mark.parametrize("what, clause, product, mode, statuses", V2_ROWS,
                         ids=[r[0] for r in V2_ROWS])
@pytest.mark.parametrize("profile", NEW)
def test_comm_mode_under_each_version(what, clause, product, mode, statuses, profile):
    case = _v2(product, mode)
    if product == "A3":  # a card under 2 MB is accepted in both July 2026 versions
        assert load(profile).enforces("VOLUME.A3.card_min", "A3").kind == "accepted"
    want = statuses[profile]
    check_status(case, profile, want, what)
    if want:
        assert expect_case(case, load(profile)).clause == clause


def test_the_two_july_versions_disagree_where_code_and_text_do():
    """The divergences of contracts/alltoallv_gmm-2026.md section 3 (and V2's null commMode)."""
    code, text = load("cann-2026.07"), load("doc-2026.07")
    assert code.rule("RANGE.e_ep").hi == 256 and text.rule("RANGE.e_ep").hi == 384
    assert code.rule("RANGE.e").hi == text.rule("RANGE.e").hi == 48
    assert code.rule("PRODUCT.910_95.epWorldSize").values == (2, 4, 8, 16, 32, 64, 128, 256)
    assert text.rule("PRODUCT.910_95.epWorldSize").values == (2, 4, 8, 16, 32, 64)
    assert code.rule("RANGE.N1").quantity == "gmmWeight.dim1"
    assert text.rule("RANGE.N1").quantity == "N1"
    assert code.enforces("COMMMODE.null").status == 161002
    assert text.enforces("COMMMODE.null").status == 161001


@pytest.mark.parametrize("name", NEW)
def test_every_entry_of_a_new_profile_names_its_commit(name):
    """Each line of [clauses] and [values] sits under a comment that names a commit."""
    block: list[str] = []
    section, in_comment, checked = None, False, 0
    for line in load(name).path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section, block = line, []
        elif line.startswith("#"):
            block = block if in_comment else []
            block.append(line)
            in_comment = True
        elif line.strip():
            in_comment = False
            if section is not None:
                assert any(re.search(r"\b[0-9a-f]{9,40}\b", c) for c in block), (
                    f"{name}: {line!r} has no commit in the comment above it")
                checked += 1
    assert checked >= 6


def test_v2_clauses_belong_to_the_versions_that_have_v2():
    assert "v2" not in load("doc").entries and "v2" not in load("cann-2025.12").entries
    v2_only = [c.id for c in OP.clauses_for("A3", entry="v2") if "v1" not in c.entries]
    assert v2_only == ["COMMMODE.null", "COMMMODE.empty", "PRODUCT.A3.commMode"]
    for name in available():
        assert missing_mappings(load(name)) == []
    assert not set(v2_only) & {c.id for c in OP.clauses_for("A3", entry="v1")}


def test_every_profile_is_a_row_of_the_sims_table():
    assert set(BEHAVIORS) == set(available())


def test_a_v2_case_round_trips_and_a_v1_case_keeps_its_id():
    v1 = world()
    assert "entry" not in v1.to_json() and "comm_mode" not in v1.to_json()
    v2 = v1.with_(entry="v2", comm_mode="ccu")
    assert Case.from_json(v2.to_json()) == v2 and v2.id != v1.id


def test_a_v2_case_needs_the_entry_v2_capability():
    case = _v2("910_95", "ai_cpu")
    exp = expect_case(case, load("cann-2026.07"))
    assert "entry_v2" in needs(OP, case, exp)
    assert "entry_v2" not in needs(OP, world(), expect_case(world(), load("cann-2026.07")))


class _NoV2(SimBackend):
    """A backend (an older runtime) that cannot call V2."""

    capabilities = SimBackend.capabilities - {"entry_v2"}


def _no_v2(**options) -> _NoV2:
    return _NoV2(**options)


def test_v2_cases_run_on_the_sim_and_are_not_applicable_without_v2():
    profile = load("cann-2026.07")
    case = _v2("910_95", "ccu").with_(clause="PRODUCT.910_95.commMode")
    sim = Worlds(BackendSpec("sim", {"behavior": "cann-2026.07"}))
    old_sim = Worlds(BackendSpec("sim", {"behavior": "cann-2025.12"}))
    no_v2 = Worlds(BackendSpec(f"{__name__}:_no_v2", {"behavior": "cann-2026.07"}))
    try:
        result = sim.run(case, profile)
        assert result.passed and result.plan.data_mode, [f.message for f in result.findings]
        rejected = sim.run(_v2("A3", "ccu").with_(clause="PRODUCT.A3.commMode"), profile)
        assert rejected.passed and {r.status1 for r in rejected.reports} == {161002}
        # An older runtime: the call reaches no aclnn V2 symbol; never a pass.
        for worlds in (old_sim, no_v2):
            na = worlds.run(case, profile)
            assert na.outcome == "not_applicable", na.outcome
            assert "V2" in na.reason or "entry_v2" in na.reason
    finally:
        for w in (sim, old_sim, no_v2):
            w.close()


def test_a_run_of_one_version_against_the_other_names_the_changed_clauses():
    """The sim of December 2025 under the July 2026 code profile: each changed clause is a
    disagreement, named."""
    profile = load("cann-2026.07")
    changed = [(clause, case) for _, clause, case, st in ROWS
               if st["cann-2025.12"] != st["cann-2026.07"]]
    worlds = Worlds(BackendSpec("sim", {"behavior": "cann-2025.12"}))
    try:
        for clause, case in changed:
            result = worlds.run(case.with_(clause=clause, side="invalid", stage="first"), profile)
            assert not result.passed, clause
            named = {f.clause for f in result.findings}
            assert clause in named, (clause, named)
    finally:
        worlds.close()


# -- a published text that admits two readings ------------------------------------------------


class _RejectsUnpairedWith161002(SimBackend):
    """An implementer who read an unpaired mmX as an argument outside the supported set."""

    def check(self, ctx, a, null_outputs):
        if (a["mm_x"] is None) != (a["mm_weight"] is None):
            return 161002
        return super().check(ctx, a, null_outputs)


def _unpaired(**options) -> _RejectsUnpairedWith161002:
    return _RejectsUnpairedWith161002(**options)


def test_an_ambiguous_clause_accepts_each_reading_of_the_text():
    doc = load("doc")
    assert [r.status for r in doc.readings("OPTPAIR.mm", "910_95")] == [161001, 161002]
    assert [r.kind for r in doc.readings("OPTPAIR.mmY_unexpected", "A3")] == ["accepted", "status"]
    assert doc.enforcement["OPTPAIR.mm"].describe().startswith("ambiguous in the text")
    case = _shared(world(rows=2), 4).with_(faults=(Fault("null", "mmWeight"),),
                                           clause="OPTPAIR.mm", side="invalid")
    for backend, reading in ((BackendSpec("sim", {"behavior": "doc"}), ""),
                             (BackendSpec(f"{__name__}:_unpaired", {"behavior": "doc"}),
                              "OPTPAIR.mm: status 161002 at stage 1")):
        worlds = Worlds(backend)
        try:
            result = worlds.run(case, doc)
            assert result.passed and result.reading == reading, result.findings
            # A shipped profile stays exact: 161002 for an unpaired mmX is wrong there.
            shipped = worlds.run(case, load("cann-2025.12"))
            assert shipped.passed == (reading == "")
        finally:
            worlds.close()


def test_an_unrequested_output_may_be_ignored_or_rejected_under_the_text_only():
    """The December 2025 code rejects an unrequested permuteOut with 161001: neither reading of
    the text (ignored, or 161002), so it stays a departure."""
    case = world(permute_out_flag=False).with_(faults=(Fault("present", "permuteOut"),),
                                              clause="PAIR.permuteOut.unexpected", side="invalid",
                                              stage="first")
    doc = load("doc")
    worlds = Worlds(BackendSpec("sim", {"behavior": "cann-2025.12"}))
    try:
        result = worlds.run(case, doc)
        assert not result.passed and result.reading == ""
    finally:
        worlds.close()


def test_a_shipped_profile_may_not_be_ambiguous(tmp_path):
    import shutil

    from ops.alltoallv_gmm import PROFILE_DIR
    from spec.profiles import ProfileError

    for f in PROFILE_DIR.glob("*.toml"):
        shutil.copy(f, tmp_path)
    (tmp_path / "vague.toml").write_text(
        'name = "vague"\nkind = "shipped"\nextends = "cann-2025.12"\n[clauses]\n'
        '"OPTPAIR.mm" = { readings = [161001, 161002] }\n')
    with pytest.raises(ProfileError, match="a shipped profile is exact"):
        load("vague", tmp_path)


# -- --spec-profile auto ----------------------------------------------------------------------


def _fake_cann(v2: bool):
    """The fake CANN's operator library (tests/fakes/build.py), with or without V2: real ELF
    objects, read through their dynamic symbol tables as op-plugin resolves them."""
    from tests.fakes.build import build, default_root

    return build(default_root(), v2=v2) / "libopapi.so"


def _cann(tmp_path, *, v2: bool | None) -> dict[str, str]:
    """A CANN home whose lib64 holds libopapi.so: the fake's, with or without V2 (v2=None: a
    file that exports nothing)."""
    lib = tmp_path / "lib64"
    lib.mkdir(parents=True)
    if v2 is None:
        (lib / "libopapi.so").write_bytes(b"\0ELF\0aclnnAlltoAllvGroupedMatMulGetWorkspaceSize\0")
    else:
        (lib / "libopapi.so").symlink_to(_fake_cann(v2))
    return {"ASCEND_HOME_PATH": str(tmp_path)}


def _cann_only(install):
    """`install` as on a host without torch_npu: the fake torch_npu other tests import in this
    process (tests/fakes/site on sys.path) is not the host's."""
    from dataclasses import replace

    return replace(install, torch_npu=None, torch_npu_comm_mode=None)


def test_auto_picks_the_shipped_profile_of_the_installed_entry_points(tmp_path):
    from spec.installed import find_install, pick

    new = _cann_only(find_install(OP, _cann(tmp_path / "new", v2=True), cann_version="9.9"))
    profile, why = pick(OP, new)
    assert profile.name == "cann-2026.07" and "exports aclnnAlltoAllvGroupedMatMulV2" in why
    assert "CANN 9.9" in why
    old = _cann_only(find_install(OP, _cann(tmp_path / "old", v2=False)))
    profile, why = pick(OP, old)
    assert profile.name == "cann-2025.12" and "no library in op-plugin's order" in why


def test_auto_reads_the_entry_points_in_op_plugins_library_order(tmp_path):
    """The V2 symbol counts wherever op-plugin (and the aclnn backend) would take it from: a
    custom vendor package, libopapi_*.so, ASCEND_CUSTOM_OPP_PATH; libopapi.so comes last."""
    from spec.installed import find_install, pick

    env = _cann(tmp_path / "cann", v2=False)
    lib64 = tmp_path / "cann" / "lib64"
    assert not find_install(OP, env).has_v2
    (lib64 / "libopapi_transformer.so").symlink_to(_fake_cann(True))
    install = _cann_only(find_install(OP, env))
    assert install.library == install.library_v2 == lib64 / "libopapi_transformer.so"
    assert pick(OP, install)[0].name == "cann-2026.07"
    (lib64 / "libopapi_transformer.so").unlink()
    vendor = tmp_path / "cann" / "opp" / "vendors" / "acme_transformer" / "op_api" / "lib"
    vendor.mkdir(parents=True)
    (vendor / "libcust_opapi.so").symlink_to(_fake_cann(True))
    (tmp_path / "cann" / "opp" / "vendors" / "config.ini").write_text("load_priority=acme_transformer\n")
    assert _cann_only(find_install(OP, env)).library_v2 == vendor / "libcust_opapi.so"
    custom = tmp_path / "custom" / "op_api" / "lib"
    custom.mkdir(parents=True)
    (custom / "libcust_opapi.so").symlink_to(_fake_cann(False))
    env["ASCEND_CUSTOM_OPP_PATH"] = str(tmp_path / "custom")
    install = _cann_only(find_install(OP, env))
    assert (install.library, install.library_v2) == (custom / "libcust_opapi.so", vendor / "libcust_opapi.so")


def test_auto_refuses_without_an_install_or_a_match(tmp_path):
    from dataclasses import replace

    from spec.installed import find_install, pick
    from spec.profiles import ProfileError

    with pytest.raises(ProfileError, match="no CANN install found; set ASCEND_HOME_PATH"):
        find_install(OP, {})
    with pytest.raises(ProfileError, match=r"no library exports aclnnAlltoAllvGroupedMatMulGetWorkspaceSize "
                                           r"\(searched in op-plugin's order: .*libopapi.so\)"):
        find_install(OP, _cann(tmp_path / "other", v2=None))
    new = _cann_only(find_install(OP, _cann(tmp_path / "new", v2=True)))
    with pytest.raises(ProfileError, match=r"torch_npu 2\.9 lacks comm_mode"):
        pick(OP, replace(new, torch_npu="2.9", torch_npu_comm_mode=False))
    only_published = tmp_path / "profiles"
    only_published.mkdir()
    for name in ("doc", "doc-2026.07"):
        (only_published / f"{name}.toml").write_text(load(name).path.read_text("utf-8"), "utf-8")
    with pytest.raises(ProfileError, match="shipped profiles with entry points v1, v2: none"):
        pick(OP, new, only_published)


@pytest.mark.parametrize("profile", NEW)
def test_every_comm_mode_clause_is_reachable_on_both_sides(profile):
    from strategies import probe

    prof = load(profile)
    for product, ep in (("A3", 8), ("910_95", 4)):
        for clause in [c for c in OP.clauses_for(product, entry="v2") if "v1" not in c.entries]:
            for side in ("valid", "invalid"):
                case, why = probe(clause.id, side, product, ep, prof, "float16", "v2", "ai_cpu")
                assert case is not None, (clause.id, side, product, why)
                assert case.entry == "v2"
                engines = prof.rule(f"PRODUCT.{product}.commMode").values
                assert (case.comm_mode in engines) == (side == "valid")
