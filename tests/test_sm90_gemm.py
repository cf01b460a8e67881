"""The Hopper NVFP4 GEMM (sm90_scaled_fp4_mm) and its weight layout: prepare/unprepare round
trips and the layout's definition on any machine; on an SM90 GPU, the GEMM in W4A16 and W4A4 modes
against the fp32 reference of DESIGN.md section 3, every (scale byte, code) pair through the
decode exactly, bad inputs, opcheck and CUDA-graph capture."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import assert_same_result, run_opcheck

import nvfp4
from nvfp4 import reference
from nvfp4._build import has_kernel
from nvfp4.constants import E2M1_MAGNITUDES, FRAGMENT_K, FRAGMENT_ROWS, round_up

# DESIGN.md section 3: one tolerance for every GEMM test.
RELATIVE_TOLERANCE = 5e-3

requires_sm90 = pytest.mark.skipif(
    not (
        torch.cuda.is_available()
        and torch.cuda.get_device_capability()[0] == 9
        and has_kernel("_fragment_mm_sm90", "cuda")
    ),
    reason="needs an SM90 GPU and a build with the _C_sm90 module",
)


def checkpoint_weight(n: int, k: int, seed: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random weight quantized to checkpoint form: packed [n, k/2], linear scales [n, k/16],
    and its encode scale gs_w."""
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=generator).to(device=device, dtype=torch.bfloat16)
    gs = reference.global_scale_from_amax(w)
    packed, scale = nvfp4.scaled_fp4_quant(w, gs, swizzle=False)
    return packed, scale, gs


# ---------------------------------------------------------------------------------------------
# The fragment layout (any machine)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "k"), [(1, 16), (16, 64), (32, 48), (96, 4112), (100, 208)])
def test_prepare_round_trip(n: int, k: int):
    packed, scale, _ = checkpoint_weight(n, k, seed=n + k)
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    assert weight.shape == (round_up(n, FRAGMENT_ROWS), round_up(k, FRAGMENT_K) // 2)
    assert weight_scale.shape == (round_up(n, FRAGMENT_ROWS), round_up(k, FRAGMENT_K) // 16)
    assert weight.dtype == packed.dtype and weight_scale.dtype == torch.float8_e4m3fn
    assert weight.is_contiguous() and weight_scale.is_contiguous()
    back, back_scale = nvfp4.unprepare_weights_for_nvfp4_sm90(weight, weight_scale, n, k)
    assert torch.equal(back, packed)
    assert torch.equal(back_scale.view(torch.uint8), scale.view(torch.uint8))
    # The padding is zero: the prepared tensors hold the checkpoint's code bits (moved within a
    # word, never made) and scales, and zeros only.
    assert set_bits(weight) == set_bits(packed)
    assert int(weight_scale.view(torch.uint8).sum()) == int(scale.view(torch.uint8).sum())


def set_bits(packed: torch.Tensor) -> int:
    """The number of bits set in a uint8 (or float4_e2m1fn_x2) tensor."""
    values = packed.view(torch.uint8).long()
    return int(sum(((values >> bit) & 1).sum() for bit in range(8)))


def test_prepare_keeps_float4_dtype():
    packed, scale, _ = checkpoint_weight(16, 64, seed=3)
    weight, _ = nvfp4.prepare_weights_for_nvfp4_sm90(packed.view(torch.float4_e2m1fn_x2), scale)
    assert weight.dtype == torch.float4_e2m1fn_x2


def test_fragment_layout_definition():
    """Each prepared word is what csrc/include/nvfp4/fragment_layout.h says: lane l = 4g + t of tile
    (strip, tile), step s, holds the bytes of registers a0..a3 = (row g, k 16t+4s (+1)), (row g+8,
    same k), (row g, k 16t+4s+2 (+1)), (row g+8, k 16t+4s+2 (+1)), their codes c0..c7 re-encoded
    with c_2r's magnitude bits and sign at the bits code_bits[r] names and c_2r+1's 16 bits
    higher; the tile's scales are (row g, row g+8) of block t, for each lane."""
    n, k = 32, 128
    packed, scale, _ = checkpoint_weight(n, k, seed=11)
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    words = weight.view(torch.uint8).flatten().reshape(-1, 4).long()
    words = words[:, 0] | (words[:, 1] << 8) | (words[:, 2] << 16) | (words[:, 3] << 24)
    scales = weight_scale.view(torch.uint8).flatten()
    scale_bytes = scale.view(torch.uint8)
    code_bits = (((0, 1, 2), 9), ((3, 4, 5), 12), ((6, 7, 8), 15), ((10, 11, 13), 14))  # (m0, m1, m2), sign
    tiles = k // FRAGMENT_K
    for strip, tile, lane, step in itertools.product(range(n // 16), range(tiles), range(32), range(4)):
        group, thread = divmod(lane, 4)
        codes = []
        for register in range(4):
            row = 16 * strip + group + 8 * (register % 2)
            k_index = FRAGMENT_K * tile + 16 * thread + 4 * step + 2 * (register // 2)
            byte = int(packed[row, k_index // 2])
            codes += [byte & 0xF, byte >> 4]
        expected = 0
        for register, (magnitude, sign) in enumerate(code_bits):
            for half in range(2):
                code = codes[2 * register + half]
                expected |= ((code >> 3) & 1) << (sign + 16 * half)
                expected |= sum(((code >> b) & 1) << (place + 16 * half) for b, place in enumerate(magnitude))
        assert int(words[((strip * tiles + tile) * 32 + lane) * 4 + step]) == expected
    positions = itertools.product(range(n // 16), range(tiles), range(8), range(4), range(2))
    for strip, tile, group, block, half in positions:
        offset = ((strip * tiles + tile) * 8 + group) * 8 + block * 2 + half
        assert scales[offset] == scale_bytes[16 * strip + group + 8 * half, 4 * tile + block]


def test_unprepare_rejects_a_foreign_shape():
    packed, scale, _ = checkpoint_weight(32, 64, seed=5)
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    with pytest.raises(ValueError, match="fragment layout"):
        nvfp4.unprepare_weights_for_nvfp4_sm90(weight, weight_scale, 32, 128)


def test_cpu_call_names_where_the_op_runs():
    packed, scale, _ = checkpoint_weight(32, 64, seed=8)
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    x = torch.randn(2, 64, dtype=torch.bfloat16)
    with pytest.raises(NotImplementedError, match=r"compute capability 9\.x; x is on cpu"):
        nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, torch.ones(()), None, 32)


def test_reference_gemm_matches_dequantize():
    packed, scale, gs = checkpoint_weight(48, 96, seed=7)
    x = torch.randn(5, 96)
    bias = torch.randn(48)
    expected = x @ reference.dequantize(packed, scale, gs, swizzled=False).T + bias
    actual = reference.scaled_fp4_mm(x, packed, scale, 1.0 / gs, bias)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The GEMM on an SM90 GPU
# ---------------------------------------------------------------------------------------------


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.float() - expected).norm() / expected.norm().clamp_min(1e-30))


def run_gemm(x, packed, scale, n, alpha, bias, x_global_scale=None):
    """The op with a NaN-poisoned out buffer, on prepared weights."""
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    out = torch.full((x.shape[0], n), float("nan"), dtype=x.dtype, device=x.device)
    nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, bias, n, x_global_scale, out=out)
    return out


@requires_sm90
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("mode", ["w4a16", "w4a4"])
@pytest.mark.parametrize("k", [16, 48, 4112])
@pytest.mark.parametrize("n", [32, 96, 4000])
@pytest.mark.parametrize("m", [0, 1, 3, 17, 129, 1000])
def test_gemm_against_reference(m: int, n: int, k: int, mode: str, dtype: torch.dtype):
    seed = m * 7919 + n * 31 + k
    packed, scale, gs_w = checkpoint_weight(n, k, seed, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(m, k, generator=generator, device="cuda").to(dtype)
    per_column = seed % 2 == 0
    alpha = (1.0 / gs_w) * (torch.rand(n, generator=generator, device="cuda") + 0.5 if per_column else 1.0)
    bias = torch.randn(n, generator=generator, device="cuda").to(dtype) if seed % 3 else None
    # W4A4: the op rounds x to NVFP4 itself; the reference multiplies the rounded x.
    gs_x = nvfp4.global_scale_from_amax(x) if mode == "w4a4" else None
    if gs_x is not None:
        alpha = alpha / gs_x
    alpha = alpha.float().reshape(n) if per_column else alpha.float().reshape(())
    out = run_gemm(x, packed, scale, n, alpha, bias, gs_x)
    assert out.shape == (m, n) and out.dtype == dtype
    if m == 0:
        return
    multiplied = x if gs_x is None else reference.nvfp4_qdq(x, gs_x)
    expected = reference.scaled_fp4_mm(multiplied, packed, scale, alpha, bias)
    assert torch.isfinite(out).all()
    assert out.abs().amax() > 0
    assert relative_error(out, expected) <= RELATIVE_TOLERANCE


# The GEMM's kernels may start while the kernel before them runs (programmatic dependent launch):
# a chain of GEMMs, each reading the previous one's output (NaN until written) with nothing in
# between, catches one that reads x, or writes out, too early.
@requires_sm90
@pytest.mark.parametrize("mode", ["w4a16", "w4a4"])
@pytest.mark.parametrize("m", [1, 3, 300], ids=["split_k1", "split_k3", "wgmma"])
def test_back_to_back_gemms_read_each_others_output(m: int, mode: str):
    # W4A4: one encode scale for every layer, wide enough for all of their activations; at one row
    # the GEMM rounds x itself, else nvfp4_qdq (itself a programmatic dependent) runs before it.
    gs_x = torch.tensor(1.0 / 64, device="cuda") if mode == "w4a4" else None
    features = [1024, 512, 256, 128]  # each GEMM's n is the next one's K
    layers = []
    for i, (k, n) in enumerate(itertools.pairwise(features)):
        packed, scale, gs_w = checkpoint_weight(n, k, seed=i, device="cuda")
        weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
        alpha = 1.0 / gs_w if gs_x is None else 1.0 / (gs_w * gs_x)
        layers.append((packed, scale, weight, weight_scale, alpha.float().reshape(()), n))
    x = torch.randn(m, features[0], generator=torch.Generator(device="cuda").manual_seed(m), device="cuda")
    x = x.to(torch.bfloat16)
    outs = [torch.full((m, n), float("nan"), dtype=x.dtype, device="cuda") for *_, n in layers]
    inputs = [x, *outs[:-1]]
    torch.cuda.synchronize()
    for (_, _, weight, weight_scale, alpha, n), source, out in zip(layers, inputs, outs, strict=True):
        nvfp4.sm90_scaled_fp4_mm(source, weight, weight_scale, alpha, None, n, gs_x, out=out)
    for (packed, scale, _, _, alpha, _), source, out in zip(layers, inputs, outs, strict=True):
        assert torch.isfinite(out).all()
        multiplied = source if gs_x is None else reference.nvfp4_qdq(source, gs_x)
        expected = reference.scaled_fp4_mm(multiplied, packed, scale, alpha, None)
        assert relative_error(out, expected) <= RELATIVE_TOLERANCE


# The split-K kernel for each place it reads x from (the plans in tests/cpp/test_gemm_plan.cu):
# through the ring of tiles that TMA fills, the splits summed by a second kernel (K = 16400: a
# last tile partly past K; 96 rows: a CTA with two warps that have no strip; 7 and 13 rows: rows
# past M), from global memory (16 rows a warp, short splits) and copied whole into shared memory
# (four tiles ahead), the splits summed in a cluster; and copied whole, the splits summed by a
# second kernel (11520 x 1280: CTAs for more than three quarters of a wave). The odd-shape grid
# above copies x whole at M = 1 and 3.
@requires_sm90
@pytest.mark.parametrize(
    ("m", "n", "k"),
    [(7, 96, 16400), (8, 96, 16400), (13, 96, 16400), (16, 96, 4112), (5, 4000, 16400), (2, 11520, 1280)],
    ids=["ring-7", "ring-8", "ring-13", "global-16", "shared-5", "shared-2-summed-after"],
)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_split_k_gemm_for_each_source_of_x(m: int, n: int, k: int, dtype: torch.dtype):
    packed, scale, gs_w = checkpoint_weight(n, k, seed=m + n, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(m + n)
    x = torch.randn(m, k, generator=generator, device="cuda").to(dtype)
    alpha = (1.0 / gs_w).float().reshape(())
    out = run_gemm(x, packed, scale, n, alpha, None)
    expected = reference.scaled_fp4_mm(x, packed, scale, alpha, None)
    assert torch.isfinite(out).all()
    assert relative_error(out, expected) <= RELATIVE_TOLERANCE


def check_with_per_column_alpha_and_bias(m: int, n: int, k: int, dtype: torch.dtype):
    """The op on fresh random x and weight, per-column alpha and a bias, against the reference."""
    packed, scale, gs_w = checkpoint_weight(n, k, seed=m + k, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(m + k)
    x = torch.randn(m, k, generator=generator, device="cuda").to(dtype)
    alpha = ((1.0 / gs_w) * (torch.rand(n, generator=generator, device="cuda") + 0.5)).float()
    bias = torch.randn(n, generator=generator, device="cuda").to(dtype)
    out = run_gemm(x, packed, scale, n, alpha, bias)
    expected = reference.scaled_fp4_mm(x, packed, scale, alpha, bias)
    assert torch.isfinite(out).all()
    assert relative_error(out, expected) <= RELATIVE_TOLERANCE


# The wgmma kernel's 128-row batch tile (x by TMA, one CTA a multiprocessor) against the
# reference, with a K split and without, rows and N past whole tiles, K past whole 64-wide tiles,
# per-column alpha and a bias. tests/cpp/test_gemm_plan.cu checks that these shapes plan that tile.
@requires_sm90
@pytest.mark.parametrize(
    ("m", "n", "k"), [(97, 6144, 4096), (113, 6000, 4112), (300, 9000, 208)], ids=["split", "split_k4112", "whole"]
)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_wgmma_128_row_tile(m: int, n: int, k: int, dtype: torch.dtype):
    check_with_per_column_alpha_and_bias(m, n, k, dtype)


# The 64-row tile's wide CTA (seven consumer warpgroups, 448 weight rows: x_stages.cuh) against the
# reference: K split five ways (K past whole tiles; M = 17 and 50) and whole (its output tile in
# shared memory, N not a multiple of 8), the last CTA's weight rows past N.
# tests/cpp/test_gemm_plan.cu checks that these shapes plan that CTA.
@requires_sm90
@pytest.mark.parametrize(
    ("m", "n", "k"), [(17, 11300, 2064), (50, 11300, 4112), (33, 50004, 1040)], ids=["split17", "split50", "whole"]
)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_wgmma_wide_64_row_tile(m: int, n: int, k: int, dtype: torch.dtype):
    check_with_per_column_alpha_and_bias(m, n, k, dtype)


# A plan whose last wave runs as a split tail (gemm_plan.cuh's set_tail): the strip blocks of whole
# waves in one launch, the rest in a second, split over K, whose sums the reduction kernel finishes
# into out's last columns (rows of out longer than the tail's columns): the 256-row tile with N
# not a multiple of 8 (the tail's last stores element by element) and K past whole tiles, after
# one wave and after two, the 128-row tile, and the 64-row tile, which orders x itself.
# tests/cpp/test_gemm_plan.cu checks that these shapes plan a tail.
@requires_sm90
@pytest.mark.parametrize(
    ("m", "n", "k"),
    [(1000, 6100, 4112), (1536, 6100, 4112), (100, 38400, 2064), (64, 38400, 2064)],
    ids=["rows256", "rows256-two-waves", "rows128", "rows64"],
)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_wgmma_split_tail(m: int, n: int, k: int, dtype: torch.dtype):
    check_with_per_column_alpha_and_bias(m, n, k, dtype)


# W4A4: the op's own rounding of x (inside the split-K kernel, which copies x whole, at one row;
# else by nvfp4_qdq first) gives bit for bit the GEMM of nvfp4_qdq(x), for every kind of plan:
# x copied whole (K = 4112: blocks past K; 11520 x 1280: the splits summed by a second kernel),
# the ring of tiles, x from global memory (its weight asked of L2 while the rounding pass runs),
# and the wgmma kernel. With an Inf in x its block, and so its row's outputs, are NaN.
@requires_sm90
@pytest.mark.parametrize(
    ("m", "n", "k", "with_inf"),
    [
        (1, 96, 4112, False),
        (1, 4000, 4112, True),
        (1, 11520, 1280, False),
        (1, 4000, 16400, False),
        (3, 4000, 4112, True),
        (8, 96, 16400, False),
        (16, 96, 4112, False),
        (100, 200, 4112, False),
    ],
    ids=[
        "rounded-1",
        "rounded-1-inf",
        "rounded-1-summed-after",
        "rounded-1-long-splits",
        "shared-3-inf",
        "ring-8",
        "global-16",
        "wgmma-100",
    ],
)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_w4a4_equals_the_gemm_of_qdq(m: int, n: int, k: int, with_inf: bool, dtype: torch.dtype):
    packed, scale, gs_w = checkpoint_weight(n, k, seed=m + k, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    generator = torch.Generator(device="cuda").manual_seed(m + k)
    x = torch.randn(m, k, generator=generator, device="cuda").to(dtype) * 3
    inf_row = m // 2 if with_inf else -1
    if with_inf:
        x[inf_row, 100] = float("inf")
    gs_x = nvfp4.global_scale_from_amax(x[x.isfinite()])
    alpha = (1.0 / (gs_x * gs_w)).float().reshape(())
    fused = nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, None, n, gs_x)
    separate = nvfp4.sm90_scaled_fp4_mm(nvfp4.nvfp4_qdq(x, gs_x), weight, weight_scale, alpha, None, n)
    torch.testing.assert_close(fused, separate, rtol=0, atol=0, equal_nan=True)
    finite_rows = torch.arange(m, device="cuda") != inf_row
    assert fused[finite_rows].isfinite().all() and fused[~finite_rows].isnan().all()
    if finite_rows.any():
        expected = reference.scaled_fp4_mm(reference.nvfp4_qdq(x, gs_x), packed, scale, alpha, None)
        assert relative_error(fused[finite_rows], expected[finite_rows]) <= RELATIVE_TOLERANCE


# A batch the planner cuts into chunks whose x ordering overlaps the previous chunk's multiply
# (4100 rows: the 256-row tile in two chunks, the last one short; tests/cpp/test_gemm_plan.cu):
# every row checked.
@requires_sm90
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_gemm_in_overlapped_chunks(dtype: torch.dtype):
    m, n, k = 4100, 4000, 4112
    packed, scale, gs_w = checkpoint_weight(n, k, seed=11, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(11)
    x = torch.randn(m, k, generator=generator, device="cuda").to(dtype)
    alpha = (1.0 / gs_w).float().reshape(())
    bias = torch.randn(n, generator=generator, device="cuda").to(dtype)
    out = run_gemm(x, packed, scale, n, alpha, bias)
    expected = reference.scaled_fp4_mm(x, packed, scale, alpha, bias)
    assert torch.isfinite(out).all()
    row_errors = (out.float() - expected).norm(dim=1) / expected.norm(dim=1).clamp_min(1e-30)
    assert row_errors.max() <= RELATIVE_TOLERANCE


# The wgmma kernel stores out's rows in 16-byte pieces where n and out keep them aligned, value by
# value elsewhere: n not a multiple of 8 and out 2 bytes past 16-byte alignment, with a per-column
# alpha, a bias and rows past M in the last batch tile; nothing written outside out.
@requires_sm90
@pytest.mark.parametrize(("m", "n"), [(100, 100), (300, 4004), (1000, 4000)], ids=str)
@pytest.mark.parametrize("aligned_out", [True, False], ids=["aligned", "unaligned"])
def test_wgmma_output_alignment(m: int, n: int, aligned_out: bool):
    k = 4112
    packed, scale, gs_w = checkpoint_weight(n, k, seed=m + n, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    generator = torch.Generator(device="cuda").manual_seed(m + n)
    x = torch.randn(m, k, generator=generator, device="cuda").to(torch.bfloat16)
    alpha = ((torch.rand(n, generator=generator, device="cuda") + 0.5) / gs_w).float()
    bias = torch.randn(n, generator=generator, device="cuda").to(torch.bfloat16)
    storage = torch.full((m * n + 1,), float("nan"), dtype=torch.bfloat16, device="cuda")
    out = (storage[: m * n] if aligned_out else storage[1:]).view(m, n)
    assert (out.data_ptr() % 16 == 0) == aligned_out
    nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, bias, n, out=out)
    expected = reference.scaled_fp4_mm(x, packed, scale, alpha, bias)
    assert torch.isfinite(out).all()
    assert relative_error(out, expected) <= RELATIVE_TOLERANCE
    assert storage[m * n if aligned_out else 0].isnan()


@requires_sm90
@pytest.mark.parametrize("m", [16, 256], ids=["split_k", "wgmma"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_every_scale_byte_and_code_decodes_exactly(dtype: torch.dtype, m: int):
    """Row r of the weight has scale byte r (all 127 finite non-negative E4M3 bytes, subnormals
    and zero included) and the 16 codes 0..15; row i of x is the unit vector e_(i % 16), so
    out[i, r] must be exactly e2m1(i % 16) * sf(r), which bf16 and fp16 both hold. Both kernels:
    the split-K one for small batches, the wgmma one for large."""
    scale_bytes = torch.arange(0x7F, dtype=torch.uint8)
    n = scale_bytes.numel()
    codes = torch.arange(16, dtype=torch.uint8).repeat(n, 1)
    packed = reference.pack_codes(codes)
    scale = scale_bytes.reshape(n, 1).view(torch.float8_e4m3fn)
    x = torch.eye(16, dtype=dtype, device="cuda").repeat(m // 16, 1)
    alpha = torch.ones((), device="cuda")
    out = run_gemm(x, packed.cuda(), scale.cuda(), n, alpha, None)
    magnitudes = torch.tensor(E2M1_MAGNITUDES)
    values = torch.cat((magnitudes, -magnitudes)).repeat(m // 16)
    expected = values[:, None] * scale.float().reshape(1, n)
    assert torch.equal(out.cpu().float(), expected)


def at_byte_offset(t: torch.Tensor, offset: int) -> torch.Tensor:
    """A copy of `t` whose data starts `offset` bytes past the start of its allocation."""
    raw = torch.empty(t.numel() * t.element_size() + offset, dtype=torch.uint8, device=t.device)
    copy = raw[offset:]
    copy.copy_(t.view(torch.uint8).reshape(-1))
    return copy.view(t.dtype).view(t.shape)


# The prepared weight's codes 16-byte aligned and its scales 8-byte aligned, no more (views into
# larger buffers), where the split-K kernel prefetches its first tiles to L2 (x copied whole,
# splits of 52 tiles): the same result, bit for bit, as from the tensors prepare allocated.
@requires_sm90
@pytest.mark.parametrize("mode", ["w4a16", "w4a4"])
def test_weight_views_aligned_no_more_than_required(mode: str):
    m, n, k = 1, 4000, 16400
    packed, scale, gs_w = checkpoint_weight(n, k, seed=11, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    gs_x = nvfp4.global_scale_from_amax(x) if mode == "w4a4" else None
    alpha = (1.0 / gs_w).float().reshape(()) if gs_x is None else (1.0 / (gs_x * gs_w)).float().reshape(())
    expected = nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, None, n, gs_x)
    shifted = nvfp4.sm90_scaled_fp4_mm(
        x, at_byte_offset(weight, 16), at_byte_offset(weight_scale, 8), alpha, None, n, gs_x
    )
    assert_same_result(shifted, expected)


@requires_sm90
def test_out_of_place_equals_out_and_strided_x():
    packed, scale, gs_w = checkpoint_weight(64, 256, seed=9, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    x = torch.randn(8, 512, device="cuda", dtype=torch.bfloat16)[:, ::2]  # strided
    alpha = (1.0 / gs_w).reshape(())
    out = nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, None, 64)
    out_again = torch.empty_like(out)
    nvfp4.sm90_scaled_fp4_mm(x.contiguous(), weight, weight_scale, alpha, None, 64, out=out_again)
    assert_same_result(out, out_again)


@requires_sm90
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {**a, "x": a["x"].float()}, "x must be float16 or bfloat16"),
        (lambda a: {**a, "x": torch.randn(4, 128, device="cuda", dtype=torch.bfloat16)}, "weight must be"),
        (lambda a: {**a, "x": a["x"][:, :40]}, "multiple of 16"),
        (lambda a: {**a, "weight": a["weight"][:16]}, "weight must be"),
        (lambda a: {**a, "weight_scale": a["weight_scale"].view(torch.uint8)}, "weight_scale must be torch.float8"),
        (lambda a: {**a, "weight": a["weight"].t().contiguous().t()}, "must be contiguous"),
        (lambda a: {**a, "alpha": a["alpha"].double()}, "alpha must be float32"),
        (lambda a: {**a, "alpha": torch.ones(3, device="cuda")}, "alpha must be 0-dim"),
        (lambda a: {**a, "bias": torch.ones(32, device="cuda")}, "bias must have x's dtype"),
        (lambda a: {**a, "bias": torch.ones(31, device="cuda", dtype=torch.bfloat16)}, "bias must be"),
        (lambda a: {**a, "n": 40}, "weight must be"),
        (lambda a: {**a, "alpha": a["alpha"].cpu()}, "alpha must be on x's device"),
        (lambda a: {**a, "x_global_scale": torch.ones((), device="cuda").double()}, "x_global_scale must be a float32"),
        (lambda a: {**a, "x_global_scale": torch.ones(2, device="cuda")}, "x_global_scale must be 0-dim"),
        (lambda a: {**a, "x_global_scale": torch.ones(())}, "x_global_scale must be on the x's device"),
    ],
)
def test_bad_arguments(change, message):
    packed, scale, _ = checkpoint_weight(32, 64, seed=1, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    arguments = {
        "x": torch.randn(4, 64, device="cuda", dtype=torch.bfloat16),
        "weight": weight,
        "weight_scale": weight_scale,
        "alpha": torch.ones((), device="cuda"),
        "bias": None,
        "n": 32,
    }
    changed = change(arguments)
    with pytest.raises((RuntimeError, ValueError), match=message):
        nvfp4.sm90_scaled_fp4_mm(**changed)


@requires_sm90
def test_bad_out_buffer():
    packed, scale, _ = checkpoint_weight(32, 64, seed=2, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    x = torch.randn(4, 64, device="cuda", dtype=torch.bfloat16)
    alpha = torch.ones((), device="cuda")
    wrong_shape = torch.empty(4, 33, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="out must have shape"):
        nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, None, 32, out=wrong_shape)
    with pytest.raises(RuntimeError, match="out must have dtype"):
        nvfp4.sm90_scaled_fp4_mm(x, weight, weight_scale, alpha, None, 32, out=torch.empty(4, 32, device="cuda"))


@requires_sm90
def test_opcheck():
    packed, scale, gs_w = checkpoint_weight(96, 160, seed=4, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    x = torch.randn(17, 160, device="cuda", dtype=torch.bfloat16)
    bias = torch.randn(96, device="cuda", dtype=torch.bfloat16)
    alpha = (1.0 / gs_w).reshape(())
    run_opcheck(torch.ops.nvfp4.sm90_scaled_fp4_mm.default, (x, weight, weight_scale, alpha, bias, 96))
    out = torch.empty(17, 96, device="cuda", dtype=torch.bfloat16)
    run_opcheck(torch.ops.nvfp4.sm90_scaled_fp4_mm.out, (x, weight, weight_scale, alpha, None, 96), {"out": out})
    # W4A4, where the kernel rounds x itself (1 row) and where nvfp4_qdq runs first (17 rows).
    gs_x = nvfp4.global_scale_from_amax(x)
    for rows in (1, 17):
        arguments = (x[:rows], weight, weight_scale, alpha / gs_x, bias, 96, gs_x)
        run_opcheck(torch.ops.nvfp4.sm90_scaled_fp4_mm.default, arguments)


# (4100, 4000, 4112) takes the 256-row wgmma tile with x ordered on a second stream in two chunks
# (tests/cpp/test_gemm_plan.cu checks that plan): its capture forks and joins that stream; (13, 96,
# 16400) the split-K kernel through the ring, its splits summed by a second kernel. In W4A4 mode
# the split-K kernel rounds x itself at 1 row; at 13, 16 and 4100 nvfp4_qdq runs first.
@requires_sm90
@pytest.mark.parametrize("mode", ["w4a16", "w4a4"])
@pytest.mark.parametrize(
    ("m", "n", "k"),
    [(1, 128, 512), (16, 128, 512), (13, 96, 16400), (4100, 4000, 4112)],
    ids=["split_k1", "split_k16", "split_k_summed_after", "overlapped"],
)
def test_cuda_graph_capture_and_compile(m: int, n: int, k: int, mode: str):
    packed, scale, gs_w = checkpoint_weight(n, k, seed=6, device="cuda")
    weight, weight_scale = nvfp4.prepare_weights_for_nvfp4_sm90(packed, scale)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    gs_x = nvfp4.global_scale_from_amax(x) if mode == "w4a4" else None
    alpha = (1.0 / gs_w).reshape(()) if gs_x is None else (1.0 / (gs_w * gs_x)).reshape(())

    def gemm(a: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return nvfp4.sm90_scaled_fp4_mm(a, weight, weight_scale, alpha, None, n, gs_x, out=out)

    expected = gemm(x)
    out = torch.empty_like(expected)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        gemm(x, out)  # warm-up
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        gemm(x, out)
    out.zero_()
    graph.replay()
    torch.cuda.synchronize()
    assert_same_result(out, expected)
    assert_same_result(torch.compile(gemm, fullgraph=True)(x), expected)
