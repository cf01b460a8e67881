// Every op of the nvfp4 library: the one place that defines schemas. Kernels live elsewhere and
// register with TORCH_LIBRARY_IMPL (csrc/cpu for CPU, csrc/cuda for the architecture-neutral CUDA
// kernels, csrc/sm90, csrc/sm100 and csrc/sm120 for the architecture modules _C_sm90, ...).
//
// Conventions (DESIGN.md): `global_scale` arguments are always encode scales gs = 2688/amax;
// packed codes are uint8 (or torch.float4_e2m1fn_x2), element 2i in the low nibble; block scales
// are float8_e4m3fn, linear [R, K/16] or swizzled [roundup(R,128), roundup(K/16,4)]. Every op
// that writes a tensor has an `.out` overload whose buffers may come from torch.empty: the
// kernels write every byte, padding included.

#include <torch/library.h>

#include "python_module.h"

NVFP4_EMPTY_PYTHON_MODULE(_C)

TORCH_LIBRARY(nvfp4, m) {
  // The fake (meta) implementations live in nvfp4/ops.py; torch imports it when it needs them.
  m.set_python_module("nvfp4.ops");

  // Quantize input [..., K] (fp32/fp16/bf16, K % 16 == 0) to NVFP4 with encode scale
  // global_scale (fp32, 0-dim or [1], on the input's device). Returns packed uint8 [R, padded_k/2]
  // and block_scale float8_e4m3fn, swizzled [roundup(R,128), roundup(padded_k/16,4)] or linear
  // [R, padded_k/16]. padded_k (elements, default K) adds zero columns for GEMM alignment.
  m.def(
      "scaled_fp4_quant(Tensor input, Tensor global_scale, bool swizzle=True, int? padded_k=None)"
      " -> (Tensor packed, Tensor block_scale)");
  m.def(
      "scaled_fp4_quant.out(Tensor input, Tensor global_scale, bool swizzle=True, int? padded_k=None,"
      " *, Tensor(a!) packed, Tensor(b!) block_scale) -> ()");

  // Decode packed [R, Kp/2] with its block scales (layout given by `swizzled`) and encode scale
  // global_scale: out[r, c] = (e2m1 * sf) / gs, cast once to out_dtype. Returns [R, Kp].
  m.def(
      "dequantize(Tensor packed, Tensor block_scale, Tensor global_scale, bool swizzled,"
      " ScalarType out_dtype) -> Tensor");
  m.def(
      "dequantize.out(Tensor packed, Tensor block_scale, Tensor global_scale, bool swizzled,"
      " ScalarType out_dtype, *, Tensor(a!) out) -> ()");

  // Linear block scales [R, S] or [B, R, S] to the swizzled layout [.., roundup(R,128),
  // roundup(S,4)], padding zero; and back (rows = R, cols = S of the unpadded matrix).
  m.def("swizzle_blockscale(Tensor scale) -> Tensor");
  m.def("swizzle_blockscale.out(Tensor scale, *, Tensor(a!) out) -> ()");
  m.def("unswizzle_blockscale(Tensor scale, int rows, int cols) -> Tensor");
  m.def("unswizzle_blockscale.out(Tensor scale, int rows, int cols, *, Tensor(a!) out) -> ()");

  // Quantize-dequantize a 16-bit activation [..., K] (fp16/bf16, K % 16 == 0) with encode scale
  // global_scale, returning e2m1 * sf **without** the 1/gs factor, in the input's dtype and shape
  // (exact: every such product is representable in fp16 and bf16). Callers fold 1/gs into a
  // GEMM's alpha. A non-finite block, or an invalid global_scale, gives NaN.
  m.def("nvfp4_qdq(Tensor input, Tensor global_scale) -> Tensor");
  m.def("nvfp4_qdq.out(Tensor input, Tensor global_scale, *, Tensor(a!) out) -> ()");

  // The dynamic encode scale of a tensor, a 0-dim fp32 tensor on its device, computed there
  // (no host sync): amax > 0 ? min(2688 / amax, 2^126) : 1, amax = max |x| (NaN propagates).
  m.def("global_scale_from_amax(Tensor input) -> Tensor");
  m.def("global_scale_from_amax.out(Tensor input, *, Tensor(a!) out) -> ()");

  // The Hopper NVFP4 GEMM (sm_90a): out[m, j] = alpha * (x @ (e2m1 * sf)^T)[m, j] + bias[j] for j < n,
  // with fp32 accumulation and one rounding to x's dtype (DESIGN.md section 3). x is fp16/bf16
  // [M, K] (K % 16 == 0, M may be 0); weight and weight_scale come from
  // prepare_weights_for_nvfp4_sm90: packed [roundup(n,16), roundup(K,64)/2] and float8_e4m3fn
  // [roundup(n,16), roundup(K,64)/16] in the fragment layout (csrc/include/nvfp4/fragment_layout.h);
  // alpha is fp32, 0-dim (or [1]) or [n]; bias is [n] in x's dtype. W4A16: alpha = 1/gs_w. W4A4:
  // x_global_scale = gs_x (fp32, one element) and alpha = 1/(gs_x * gs_w): x is taken as
  // nvfp4_qdq(x, gs_x), rounded inside the GEMM where that is faster (gemm_plan.cuh, rounds_x),
  // else by nvfp4_qdq first: the same result, bit for bit. Returns [M, n] in x's dtype.
  m.def(
      "sm90_scaled_fp4_mm(Tensor x, Tensor weight, Tensor weight_scale, Tensor alpha, Tensor? bias, int n,"
      " Tensor? x_global_scale=None) -> Tensor");
  m.def(
      "sm90_scaled_fp4_mm.out(Tensor x, Tensor weight, Tensor weight_scale, Tensor alpha, Tensor? bias, int n,"
      " Tensor? x_global_scale=None, *, Tensor(a!) out) -> ()");

  // The native Blackwell NVFP4 GEMM (CUTLASS block-scaled tensor cores, sm_100a and sm_120a):
  // out[m, j] = alpha * sum_k a[m, k] * b[j, k] + bias[j] with both operands NVFP4, fp32 accumulation
  // and one rounding to out_dtype (DESIGN.md section 3). a: uint8 or float4_e2m1fn_x2 [M, K/2]; b:
  // [N, K/2] (a Linear layer's weight); K % 32 == 0 and N % 32 == 0 (DESIGN.md section 2's padding
  // rule); block_scale_a, block_scale_b: float8_e4m3fn in the swizzled layout, exactly
  // [roundup(M,128), roundup(K/16,4)] and [roundup(N,128), roundup(K/16,4)]; alpha fp32, 0-dim, [1]
  // or [N], on the device; bias [N] in out_dtype; out_dtype bf16 or fp16. Returns [M, N].
  m.def(
      "cutlass_scaled_fp4_mm(Tensor a, Tensor b, Tensor block_scale_a, Tensor block_scale_b, Tensor alpha,"
      " Tensor? bias, ScalarType out_dtype) -> Tensor");
  m.def(
      "cutlass_scaled_fp4_mm.out(Tensor a, Tensor b, Tensor block_scale_a, Tensor block_scale_b, Tensor alpha,"
      " Tensor? bias, ScalarType out_dtype, *, Tensor(a!) out) -> ()");

  // Build probes (CUDA only). _cuda_arch_probe runs a kernel of _C's architecture-neutral CUDA
  // part; _arch_module_probe runs the private probe of the architecture module that serves the
  // device (the dispatch path every architecture-specific GEMM takes), or raises naming the GPU
  // and what this build holds. Each returns int32 [1] on `anchor`'s device: the __CUDA_ARCH__
  // the kernel was compiled for.
  m.def("_cuda_arch_probe(Tensor anchor) -> Tensor");
  m.def("_arch_module_probe(Tensor anchor) -> Tensor");
  // The architecture module ("sm90", "sm100", "sm120", or "") whose kernels serve compute
  // capability major.minor.
  m.def("_arch_module_for_capability(int major, int minor) -> str");
  // Private ops of the architecture modules, one per module, found through the dispatcher.
  m.def("_arch_probe_sm90(Tensor anchor) -> Tensor");
  m.def("_arch_probe_sm100(Tensor anchor) -> Tensor");
  m.def("_arch_probe_sm120(Tensor anchor) -> Tensor");
  // The kernels of cutlass_scaled_fp4_mm.out in _C_sm100 and _C_sm120, called with checked arguments.
  m.def(
      "_cutlass_fp4_mm_sm100(Tensor a, Tensor b, Tensor block_scale_a, Tensor block_scale_b, Tensor alpha,"
      " Tensor? bias, Tensor(a!) out) -> ()");
  m.def(
      "_cutlass_fp4_mm_sm120(Tensor a, Tensor b, Tensor block_scale_a, Tensor block_scale_b, Tensor alpha,"
      " Tensor? bias, Tensor(a!) out) -> ()");
  // The kernel of sm90_scaled_fp4_mm.out in _C_sm90, called with checked arguments (x contiguous).
  m.def(
      "_fragment_mm_sm90(Tensor x, Tensor weight, Tensor weight_scale, Tensor alpha, Tensor? bias,"
      " Tensor? x_global_scale, Tensor(a!) out) -> ()");
}
