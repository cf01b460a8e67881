// Argument checks shared by every device's implementation of the public ops. Each failure is a
// TORCH_CHECK that names the argument, what was expected and what arrived.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <initializer_list>

#include "nvfp4/fragment_layout.h"
#include "nvfp4/layout.h"

namespace nvfp4 {

// dtype, device, shape and contiguity of a tensor an op writes (an `.out` argument).
void check_output(const at::Tensor& out, const char* name, at::IntArrayRef expected_sizes,
                  at::ScalarType expected_dtype, const at::Device& expected_device);

// Packed E2M1 codes arrive as uint8 or as torch.float4_e2m1fn_x2 (a view of the same bytes).
bool is_packed_fp4_dtype(at::ScalarType dtype);

// scaled_fp4_quant: input [..., K] fp32/fp16/bf16 with K % 16 == 0, global_scale a one-element
// fp32 tensor on the input's device, padded_k a multiple of 16 >= K. Returns the output layout.
QuantizedLayout check_scaled_fp4_quant_args(const at::Tensor& input, const at::Tensor& global_scale,
                                            bool swizzle, c10::optional<int64_t> padded_k);

// nvfp4_qdq: as scaled_fp4_quant (no padding, linear scales), with a 16-bit input.
QuantizedLayout check_qdq_args(const at::Tensor& input, const at::Tensor& global_scale);

// dequantize: packed [R, Kp/2], block_scale in the layout `swizzled` names, one-element fp32
// global_scale, out_dtype fp32/fp16/bf16. Returns the layout of the stored matrix (k = Kp).
QuantizedLayout check_dequantize_args(const at::Tensor& packed, const at::Tensor& block_scale,
                                      const at::Tensor& global_scale, bool swizzled,
                                      at::ScalarType out_dtype);

// swizzle_blockscale: a contiguous float8_e4m3fn [R, S] or [B, R, S] scale matrix.
void check_linear_blockscale(const at::Tensor& scale);

// unswizzle_blockscale: a contiguous float8_e4m3fn [Rp, Sp] or [B, Rp, Sp] with
// Rp = roundup(rows, 128) and Sp = roundup(cols, 4).
void check_swizzled_blockscale(const at::Tensor& scale, int64_t rows, int64_t cols);

// The [rows, cols] matrices of a 2-D or 3-D scale tensor (batch 1 for 2-D).
ScaleMatrices scale_matrices_of(const at::Tensor& scale, int64_t rows, int64_t cols);

// The shape of a scale matrix with its last two dimensions replaced by (rows, cols).
std::vector<int64_t> with_matrix_sizes(const at::Tensor& scale, int64_t rows, int64_t cols);

// global_scale_from_amax.out: input fp32/fp16/bf16 of any shape, out a one-element fp32 tensor
// on the input's device.
void check_global_scale_from_amax_args(const at::Tensor& input, const at::Tensor& out);

// The sizes of sm90_scaled_fp4_mm: x [m, k] times a weight of n rows stored in the fragment
// layout [padded_n, padded_k / 2].
struct FragmentGemmShape {
  int64_t m;
  int64_t n;
  int64_t k;
  int64_t padded_n;
  int64_t padded_k;
};

// sm90_scaled_fp4_mm: x fp16/bf16 [M, K] with K % 16 == 0; weight packed [roundup(n,16),
// roundup(K,64)/2] and weight_scale float8_e4m3fn [roundup(n,16), roundup(K,64)/16], both
// contiguous; alpha fp32, one element or [n]; bias [n] in x's dtype; x_global_scale a one-element
// fp32 tensor; all on x's device.
FragmentGemmShape check_sm90_scaled_fp4_mm_args(const at::Tensor& x, const at::Tensor& weight,
                                                const at::Tensor& weight_scale, const at::Tensor& alpha,
                                                const c10::optional<at::Tensor>& bias, int64_t n,
                                                const c10::optional<at::Tensor>& x_global_scale);

// The sizes of cutlass_scaled_fp4_mm: a [m, k] times b [n, k], both packed NVFP4.
struct Fp4GemmShape {
  int64_t m;
  int64_t n;
  int64_t k;
};

// cutlass_scaled_fp4_mm: a [M, K/2] and b [N, K/2] packed (uint8 or float4_e2m1fn_x2), K % 32 == 0
// and N % 32 == 0, contiguous and 16-byte aligned; the block scales float8_e4m3fn, contiguous, in
// the swizzled layout of exactly [roundup(M,128), roundup(K/16,4)] and [roundup(N,128),
// roundup(K/16,4)]; alpha fp32 0-dim, [1] or [N]; bias [N] in out_dtype; out_dtype bf16 or fp16;
// all on a's device.
Fp4GemmShape check_cutlass_scaled_fp4_mm_args(const at::Tensor& a, const at::Tensor& b,
                                              const at::Tensor& block_scale_a, const at::Tensor& block_scale_b,
                                              const at::Tensor& alpha, const c10::optional<at::Tensor>& bias,
                                              at::ScalarType out_dtype);

}  // namespace nvfp4
