"""The contract as data: every clause mapped by every profile, profiles addable as data alone,
and the departures of the shipped code from the published text exactly as OPERATOR.md lists."""

from __future__ import annotations

import dataclasses
import re
import shutil

import numpy as np
import pytest

import ops
from ops.alltoallv_gmm import OPERATOR as OP
from ops.alltoallv_gmm import PROFILE_DIR, available, load
from ops.alltoallv_gmm.clauses import CLAUSE, CLAUSES, PRODUCTS
from ops.alltoallv_gmm.params import PARAMS
from spec import data as spec_data
from spec.call import count_blocks, evolve
from spec.operator import AREAS
from spec.profiles import ProfileError, inconsistent_mappings, missing_mappings
from spec.rules import InRange

# OPERATOR.md section 2, read by hand: where the shipped code (Dec 2025) departs from the text.
DEPARTURES = {
    # op_api returns NULLPTR for non-null count tensors; the text lists them under 161002.
    "COUNTTENSOR.send", "COUNTTENSOR.recv",
    # group empty -> 161001 (the text: length (0, 128) is a range, 161002).
    "GROUP.empty",
    # the mm triple partly null and permuteOutFlag == (permuteOut == null) -> 161001, where the
    # text only says an unrequested output is not written.
    "OPTPAIR.mmY_unexpected", "PAIR.permuteOut.unexpected",
    # sendCounts/recvCounts null -> 161002 (a null required attribute is 161001 in the text).
    "NULL.sendCounts", "NULL.recvCounts",
    # every tiling check returns 561002, not 161002.
    "RANK.gmmX", "RANK.gmmWeight", "RANK.mmX", "RANK.mmWeight", "RANK.gmmY", "RANK.mmY",
    "RANK.permuteOut", "SHAPE.H1", "SHAPE.H2", "SHAPE.mmY.BS", "SHAPE.permuteOut.rows",
    "SHAPE.permuteOut.H1", "RANGE.H1", "RANGE.N1", "RANGE.H2", "RANGE.N2", "RANGE.e",
    "RANGE.e_ep", "RANGE.BSK", "RANGE.BS", "RANGE.K", "PRODUCT.A3.epWorldSize", "PRODUCT.910_95.epWorldSize",
    "COUNTS.send_len", "COUNTS.recv_len", "COUNTS.send_sum", "COUNTS.recv_sum",
    "COUNTS.send_nonneg", "COUNTS.recv_nonneg",
    # transMmWeight=true without mm is rejected by tiling; the text gives it no condition.
    "OPTPAIR.transMm",
    # not checked in Dec 2025: gmmY's N1 and mmY's N2.
    "SHAPE.gmmY.N1", "SHAPE.mmY.N2",
    # Atlas A3 volume: a per-peer floor instead of the card range, the 100 MB ceiling removed.
    "VOLUME.A3.per_peer_min", "VOLUME.A3.card_min", "VOLUME.A3.card_max",
}


@pytest.mark.parametrize("name", available())
def test_every_clause_is_mapped_by_every_profile(name):
    profile = load(name)
    assert missing_mappings(profile) == [], f"profile {name} leaves clauses unmapped"
    assert inconsistent_mappings(profile) == []


def test_a_missing_mapping_is_detected():
    profile = load("doc")
    mapping = dict(profile.enforcement)
    del mapping["RANGE.H1"]
    assert missing_mappings(dataclasses.replace(profile, enforcement=mapping)) == ["RANGE.H1"]


def test_a_profile_is_added_as_data_alone(tmp_path):
    for f in PROFILE_DIR.glob("*.toml"):
        shutil.copy(f, tmp_path)
    (tmp_path / "cann-2026.toml").write_text(
        'name = "cann-2026"\nextends = "cann-2025.12"\n[clauses]\n"SHAPE.gmmY.N1" = 561002\n'
        '[values]\n"PRODUCT.910_95.epWorldSize" = { values = [2, 4, 8, 16, 32, 64] }\n')
    new = load("cann-2026", tmp_path)
    assert "cann-2026" in available(tmp_path)
    assert missing_mappings(new) == []
    assert new.enforces("SHAPE.gmmY.N1").status == 561002
    assert new.enforces("RANGE.H1").status == 561002  # inherited
    assert new.rule("PRODUCT.910_95.epWorldSize").values == (2, 4, 8, 16, 32, 64)


@pytest.mark.parametrize("text, fragment", [
    ('name = "x"\n[clauses]\n"NO.SUCH" = 161001\n',
     "'NO.SUCH' is not a clause of aclnnAlltoAllvGroupedMatMul"),
    ('name = "x"\n[clauses]\n"RANGE.H1" = "sometimes"\n', "unknown value 'sometimes'"),
    ('name = "x"\n[clauses]\n"RANGE.H1" = {status = 1, stage = 3}\n', "stage 1 or 2"),
    ('name = "x"\nextend = "doc"\n', "unknown keys ['extend']"),
    ('name = "x"\n[values]\n"RANGE.H1" = { top = 3 }\n', "accepted keys"),
    ('name = "x"\n[clauses\n', "not valid TOML"),
    ('name = "x"\n[clauses]\n"RANGE.H1" = { A3 = 161002 }\n', "names exactly the clause's products"),
    ('name = "x"\nproducts = ["A4"]\n', "products ['A4']; accepted: a list of A3, 910_95"),
    ('name = "x"\nproducts = []\n', "products []; accepted: a list of A3, 910_95"),
])
def test_a_malformed_profile_gets_one_clear_error(tmp_path, text, fragment):
    (tmp_path / "x.toml").write_text(text)
    with pytest.raises(ProfileError, match=re.escape(fragment)):
        load("x", tmp_path)


def test_a_profile_runs_on_the_products_its_version_registered_the_operator_for():
    """December 2025 registered the dispatch for Atlas A3 alone; a profile that extends it
    inherits that unless it says otherwise (2026 added Ascend 950)."""
    assert load("doc").products == ("A3", "910_95")
    assert load("cann-2025.12").products == ("A3",)
    assert load("cann-2026.07").products == ("A3", "910_95")


def test_unknown_profile_names_the_available_ones():
    with pytest.raises(ProfileError,
                       match=re.escape("available: cann-2025.12, cann-2026.07, doc, doc-2026.07")):
        load("cann-1999")


def test_departures_of_the_shipped_code_are_the_ones_operator_md_lists():
    doc, cann = load("doc"), load("cann-2025.12")
    differ = {c.id for c in CLAUSES if "v1" in c.entries and (
        any(cann.enforces(c.id, p) not in doc.readings(c.id, p) for p in c.products)
        or doc.rule(c.id) != cann.rule(c.id))}
    assert differ == DEPARTURES
    # the count ranges belong to Atlas A3's volume check: on 910_95 nothing reads a count's sign
    assert cann.enforces("COUNTS.send_nonneg", "A3").status == 561002
    assert cann.enforces("COUNTS.send_nonneg", "910_95").kind == "unchecked"
    with pytest.raises(ValueError, match="mapped per product"):
        cann.enforces("COUNTS.send_nonneg")


def test_clause_ids_areas_and_products_are_well_formed():
    assert len({c.id for c in CLAUSES}) == len(CLAUSES)
    for c in CLAUSES:
        assert re.fullmatch(r"[A-Z0-9]+(\.[A-Za-z0-9_]+)+", c.id), c.id
        assert c.area in AREAS and set(c.products) <= set(PRODUCTS) and c.text
    # Every area is some registered operator's: the dispatch's cover all but the round trip's,
    # which only a composite operator (ops/moe_layer/) has.
    registered = {c.area for name in ops.names() for c in ops.get(name).clauses}
    assert {c.area for c in CLAUSES} == set(AREAS) - {"roundtrip"} and registered == set(AREAS)
    assert len({a.short for a in AREAS.values()}) == len(AREAS) and all(a.title for a in AREAS.values())


def test_both_stages_have_all_their_parameters():
    assert [p.c_name for p in PARAMS if p.stage == 1 and not p.entries] == [
        "gmmX", "gmmWeight", "sendCountsTensorOptional", "recvCountsTensorOptional",
        "mmXOptional", "mmWeightOptional", "group", "epWorldSize", "sendCounts", "recvCounts",
        "transGmmWeight", "transMmWeight", "permuteOutFlag", "gmmY", "mmYOptional",
        "permuteOutOptional", "workspaceSize", "executor"]
    # V2 inserts commMode right after group (contracts/alltoallv_gmm-v2.md).
    v2 = [p.c_name for p in PARAMS if p.stage == 1 and (not p.entries or "v2" in p.entries)]
    assert v2[v2.index("group") + 1] == "commMode"
    assert [p.c_name for p in PARAMS if p.stage == 2] == [
        "workspace", "workspaceSize", "executor", "stream"]
    roles = {p.c_name: p.role for p in PARAMS if p.stage == 1}
    assert roles["gmmY"] == roles["executor"] == "output" and roles["group"] == "attribute"


def test_ranges_are_the_published_ones():
    """The numbers of the contract, read once more from the seed text (not from spec/)."""
    def r(cid):
        rule = CLAUSE[cid].rule
        assert isinstance(rule, InRange)
        return rule.lo, rule.hi, rule.lo_closed, rule.hi_closed

    assert r("RANGE.BSK") == (0, 52428800, False, False)
    assert r("RANGE.H1") == (0, 65536, False, False)
    assert r("RANGE.H2") == (0, 12288, False, True)
    assert r("RANGE.N1") == r("RANGE.N2") == (0, 65536, False, False)
    assert r("RANGE.e") == (0, 32, False, True)
    assert r("RANGE.e_ep") == (0, 256, False, True)
    assert r("RANGE.K") == (2, 8, True, True)
    assert OP.world_sizes("A3") == (8, 16, 32, 64)
    assert OP.world_sizes("910_95") == (4, 8, 16, 32, 64)


def test_float16_values_round_on_their_bits_as_astype_does():
    """The float16 rounding of generated values works on float32 bits: for float32 values
    across float16's normal range (ties, just past them, both signs) it gives astype's bits."""
    rng = np.random.default_rng(1)
    bits = rng.integers(0x38800000, 0x477FE000, size=400_000, dtype=np.uint32)
    bits[:100_000] = (bits[:100_000] & ~np.uint32(0x1FFF)) | np.uint32(0x1000)  # ties
    bits[100_000:200_000] |= np.uint32(0x1FFF)  # just under the next float16
    bits[::2] |= np.uint32(0x80000000)
    m = bits.view(np.float32)
    want = m.astype(np.float16)
    assert np.array_equal(spec_data._f16_of_normal(m.copy()).view(np.uint16), want.view(np.uint16))


def _fmix32(z: np.ndarray) -> np.ndarray:
    z ^= z >> np.uint32(16)
    z *= np.uint32(0x85EBCA6B)
    z ^= z >> np.uint32(13)
    z *= np.uint32(0xC2B2AE35)
    return z ^ (z >> np.uint32(16))


def _values_in_numpy(keys: list[int], index: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    """The content hash of spec.data (_hash, _values) read literally, whole arrays at a time and
    rounded by astype: element `index[n]` of the block keyed `keys[n]`."""
    k = np.asarray(keys, np.uint64)
    z = index.astype(np.uint32) * np.uint32(0x9E3779B1)
    z ^= (k & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    z = _fmix32(z) + (k >> np.uint64(32)).astype(np.uint32)
    z = _fmix32(z)
    if spec_data.np_dtype(dtype).kind in "iu":
        return (z % np.uint32(99) + np.uint32(1)).astype(spec_data.np_dtype(dtype))
    m = (z >> np.uint32(9)).astype(np.float32) * np.float32(0.75 * 2.0**-23) + np.float32(0.25)
    m.view(np.uint32)[...] |= z << np.uint32(31)
    if scale != 1.0:
        m *= np.float32(scale)
    with np.errstate(over="ignore"):
        return m.astype(spec_data.np_dtype(dtype))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "int8", "int32", "int64"])
@pytest.mark.parametrize("scale", [1.0, 65535**-0.5, 2.0**-13, 2.0**15, 1e-30, 3e38])
@pytest.mark.parametrize("sizes", [[0, 1, 4095, 70_000, 70], [0, 1, 30, 200, 70]],
                         ids=["large blocks", "small blocks"])
def test_generated_values_are_the_bits_of_the_hash_read_literally(dtype, scale, sizes):
    """block_values (small blocks in one pass, large ones a chunk at a time, float16 rounded on
    its bits) and block_elements hold the values of the hash read literally, for every dtype,
    scales inside and outside float16's normal range, keys with either half large, blocks empty,
    small and longer than a chunk."""
    keys = [0, 2**32 - 1, 2**63 + 7, 2**64 - 1, 12345]
    with np.errstate(over="ignore"):  # 3e38 overflows float16 to infinities, as asked
        got = spec_data.block_values(keys, sizes, dtype, scale, cache=False)
    per_element = np.repeat(np.asarray(keys, np.uint64), sizes)
    index = np.concatenate([np.arange(n) for n in sizes])
    want = _values_in_numpy(per_element, index, dtype, scale)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    picked = np.random.default_rng(3).integers(0, len(index), (4, 25))
    with np.errstate(over="ignore"):
        one_by_one = spec_data.block_elements(per_element[picked], index[picked], dtype, scale)
    assert one_by_one.shape == picked.shape and one_by_one.tobytes() == want[picked].tobytes()


@pytest.mark.parametrize("scale", [1.0, 65535**-0.5, 2.0**-11, 2.0**14, 2.0**-13, 2.0**15])
def test_float16_block_values_equal_the_float32_values_rounded(scale):
    """Inside the fast path's scales and outside them, a float16 block holds its float32
    values rounded by astype."""
    keys = [12345, 2**63 + 7]
    f16 = spec_data.block_values(keys, [3000, 70_000], "float16", scale)
    f32 = spec_data.block_values(keys, [3000, 70_000], "float32", scale)
    assert np.array_equal(f16.view(np.uint16), f32.astype(np.float16).view(np.uint16))


def _every_float16(repeat: int = 1) -> np.ndarray:
    return np.tile(np.arange(1 << 16, dtype=np.uint16), repeat).view(np.float16)


@pytest.mark.parametrize("values", [
    pytest.param(_every_float16(3), id="every value, infinities and NaNs among them"),
    pytest.param(_every_float16()[np.isfinite(_every_float16())], id="every finite value"),
    pytest.param(np.tile(_every_float16()[:0x7C00], 5).reshape(-1, 64), id="2-D, positives"),
    pytest.param(_every_float16(2)[::-3], id="strided"),
    pytest.param(_every_float16()[:1000], id="small"),
])
def test_float16_widens_to_float32_exactly(values):
    """The simulators' float32 of float16 data (its bits, a chunk at a time) gives astype's bits
    for every float16 value: subnormals, both zeros, infinities and NaN payloads."""
    got = spec_data.float32_of(values)
    assert got.shape == values.shape and got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), values.astype(np.float32).view(np.uint32))


def test_bfloat16_widens_to_float32_exactly():
    values = np.arange(1 << 16, dtype=np.uint16).view(spec_data.np_dtype("bfloat16"))
    got = spec_data.float32_of(values)
    assert np.array_equal(got.view(np.uint32), values.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("counts", [(1, 2, 3, 4, 5, 6), (1, 2, 3, 4), (1, 2, 3, 4, 5, 6, 7, 8), ()])
def test_count_blocks_read_what_slicing_block_by_block_reads(counts):
    """The sims' per-peer, per-expert view of a counts array: short arrays read as zeros past
    their end and long ones stop at ranks * e, as the slices sum[s*e:(s+1)*e] do."""
    ranks, e = 3, 2
    blocks = count_blocks(counts, ranks, e)
    assert blocks.shape == (ranks, e)
    assert blocks.sum(axis=1).tolist() == [sum(counts[s * e:(s + 1) * e]) for s in range(ranks)]
    assert blocks.reshape(-1).tolist()[:len(counts)] == list(counts[:ranks * e])


@pytest.mark.parametrize("op_name", ["alltoallv_gmm", "gmm_alltoallv"])
def test_evolve_is_replace_without_what_a_call_kept(op_name):
    """A call changed by `evolve` equals the one dataclasses.replace makes, field for field; it
    keeps no count sum of the call it came from, and a name that is no field is an error."""
    op = ops.get(op_name)
    call = op.case_type(product="910_95", ep=2, e=1, h1=16, n1=8,
                        **{op.case_type.MATRIX: ((3, 1), (2, 4))}).call(0)
    assert call.count_sum("send") == sum(call.send_counts)
    changes = {"send_counts": (7, 7), "group": "other", "tensors": {**call.tensors, "gmmX": None}}
    changed = evolve(call, **changes)
    assert changed == dataclasses.replace(call, **changes) and type(changed) is type(call)
    assert changed.count_sum("send") == 14 and call.count_sum("send") == sum(call.send_counts)
    with pytest.raises(TypeError, match="no field 'nope'"):
        evolve(call, nope=1)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("rows, k, n", [(575, 4096, 8), (300, 257, 33), (7, 5, 3)])
def test_product_f32_is_the_widened_product(dtype, rows, k, n):
    """The sims' float32 product, x widened a slice of rows at a time, is the product of x widened
    whole up to the rounding of a float32 dot product (a BLAS may order a slice's reduction
    otherwise than the whole's, as OpenBLAS does on some CPUs), with a plain or a transposed
    weight; bit for bit where x is one slice, and the same bits every time."""
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, k)).astype(spec_data.np_dtype(dtype))
    w = rng.standard_normal((n, k)).astype(np.float32).T
    x32 = spec_data.float32_of(x)
    want = x32 @ w
    got = spec_data.product_f32(x, w)
    assert got.dtype == np.float32 and got.shape == want.shape
    bound = 2 * k * np.finfo(np.float32).eps * (np.abs(x32) @ np.abs(w))
    assert np.all(np.abs(got - want) <= bound)
    assert np.array_equal(got.view(np.uint32), spec_data.product_f32(x, w).view(np.uint32))
    first = x[:7]
    assert np.array_equal(spec_data.product_f32(first, w).view(np.uint32),
                          (spec_data.float32_of(first) @ w).view(np.uint32))
