#include "op_checks.h"

#include <ATen/ATen.h>
#include <c10/util/accumulate.h>

#include <utility>

namespace nvfp4 {
namespace {

bool is_activation_dtype(at::ScalarType dtype) {
  return dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16;
}

void check_global_scale(const at::Tensor& global_scale, const at::Tensor& like, const char* like_name,
                        const char* name = "global_scale") {
  TORCH_CHECK(global_scale.scalar_type() == at::kFloat, name,
              " must be a float32 tensor (the encode scale 2688/amax), got ", global_scale.scalar_type());
  TORCH_CHECK(global_scale.dim() <= 1 && global_scale.numel() == 1, name,
              " must be 0-dim or of shape [1], got shape ", global_scale.sizes());
  TORCH_CHECK(global_scale.device() == like.device(), name, " must be on the ", like_name, "'s device ",
              like.device(), ", got ", global_scale.device());
}

void check_blockscale_common(const at::Tensor& scale, const char* name) {
  TORCH_CHECK(scale.scalar_type() == at::kFloat8_e4m3fn, name, " must be torch.float8_e4m3fn, got ",
              scale.scalar_type());
  TORCH_CHECK(scale.dim() == 2 || scale.dim() == 3, name,
              " must be 2-D [rows, cols] or 3-D [batch, rows, cols], got shape ", scale.sizes());
  TORCH_CHECK(scale.is_contiguous(), name, " must be contiguous, got strides ", scale.strides());
}

}  // namespace

void check_output(const at::Tensor& out, const char* name, at::IntArrayRef expected_sizes,
                  at::ScalarType expected_dtype, const at::Device& expected_device) {
  TORCH_CHECK(out.scalar_type() == expected_dtype, name, " must have dtype ", expected_dtype, ", got ",
              out.scalar_type());
  TORCH_CHECK(out.device() == expected_device, name, " must be on ", expected_device, ", got ",
              out.device());
  TORCH_CHECK(out.sizes() == expected_sizes, name, " must have shape ", expected_sizes, ", got ",
              out.sizes());
  TORCH_CHECK(out.is_contiguous(), name, " must be contiguous, got strides ", out.strides());
}

bool is_packed_fp4_dtype(at::ScalarType dtype) {
  return dtype == at::kByte || dtype == at::ScalarType::Float4_e2m1fn_x2;
}

QuantizedLayout check_scaled_fp4_quant_args(const at::Tensor& input, const at::Tensor& global_scale,
                                            bool swizzle, c10::optional<int64_t> padded_k) {
  TORCH_CHECK(is_activation_dtype(input.scalar_type()),
              "input must be float32, float16 or bfloat16, got ", input.scalar_type());
  TORCH_CHECK(input.dim() >= 2, "input must have at least 2 dimensions [..., K], got shape ",
              input.sizes());
  const int64_t k = input.size(-1);
  TORCH_CHECK(k % kBlockSize == 0, "input's last dimension K must be a multiple of ", kBlockSize,
              " (one block scale per 16 values), got K = ", k);
  check_global_scale(global_scale, input, "input");
  const int64_t stored_k = padded_k.value_or(k);
  TORCH_CHECK(stored_k >= k && stored_k % kBlockSize == 0,
              "padded_k must be a multiple of 16 and at least K = ", k, ", got ", stored_k);
  const int64_t rows = c10::multiply_integers(input.sizes().slice(0, input.dim() - 1));
  return QuantizedLayout{rows, k, stored_k, swizzle};
}

QuantizedLayout check_qdq_args(const at::Tensor& input, const at::Tensor& global_scale) {
  TORCH_CHECK(input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16,
              "input must be float16 or bfloat16 (the values e2m1 * sf are exact in both), got ",
              input.scalar_type());
  return check_scaled_fp4_quant_args(input, global_scale, /*swizzle=*/false, c10::nullopt);
}

QuantizedLayout check_dequantize_args(const at::Tensor& packed, const at::Tensor& block_scale,
                                      const at::Tensor& global_scale, bool swizzled,
                                      at::ScalarType out_dtype) {
  TORCH_CHECK(is_packed_fp4_dtype(packed.scalar_type()),
              "packed must be uint8 or torch.float4_e2m1fn_x2, got ", packed.scalar_type());
  TORCH_CHECK(packed.dim() == 2, "packed must be 2-D [rows, K/2], got shape ", packed.sizes());
  TORCH_CHECK(packed.is_contiguous(), "packed must be contiguous, got strides ", packed.strides());
  const int64_t k = packed.size(1) * 2;
  TORCH_CHECK(k % kBlockSize == 0, "packed must hold a multiple of 16 values per row (K/2 a multiple of 8), got ",
              packed.size(1), " bytes per row");
  TORCH_CHECK(block_scale.scalar_type() == at::kFloat8_e4m3fn,
              "block_scale must be torch.float8_e4m3fn, got ", block_scale.scalar_type());
  TORCH_CHECK(block_scale.device() == packed.device(), "block_scale must be on the packed's device ",
              packed.device(), ", got ", block_scale.device());
  TORCH_CHECK(block_scale.is_contiguous(), "block_scale must be contiguous, got strides ",
              block_scale.strides());
  check_global_scale(global_scale, packed, "packed");
  TORCH_CHECK(out_dtype == at::kFloat || out_dtype == at::kHalf || out_dtype == at::kBFloat16,
              "out_dtype must be float32, float16 or bfloat16, got ", out_dtype);
  const QuantizedLayout layout{packed.size(0), k, k, swizzled};
  TORCH_CHECK(block_scale.sizes() == at::IntArrayRef({layout.scale_rows(), layout.scale_cols()}),
              "block_scale must have shape [", layout.scale_rows(), ", ", layout.scale_cols(), "] (",
              swizzled ? "swizzled: rows padded to 128, scale columns to 4" : "linear: [rows, K/16]",
              ") for packed of shape ", packed.sizes(), ", got ", block_scale.sizes());
  return layout;
}

void check_linear_blockscale(const at::Tensor& scale) { check_blockscale_common(scale, "scale"); }

void check_swizzled_blockscale(const at::Tensor& scale, int64_t rows, int64_t cols) {
  check_blockscale_common(scale, "scale");
  TORCH_CHECK(rows >= 0 && cols >= 0, "rows and cols must be non-negative, got ", rows, " and ", cols);
  const int64_t padded_rows = round_up(rows, kSwizzleTileRows);
  const int64_t padded_cols = round_up(cols, kSwizzleTileCols);
  TORCH_CHECK(scale.size(-2) == padded_rows && scale.size(-1) == padded_cols,
              "scale must be swizzled with its last two dimensions [", padded_rows, ", ", padded_cols,
              "] (rows = ", rows, " padded to 128, cols = ", cols, " padded to 4), got shape ",
              scale.sizes());
}

ScaleMatrices scale_matrices_of(const at::Tensor& scale, int64_t rows, int64_t cols) {
  return {scale.dim() == 3 ? scale.size(0) : 1, rows, cols};
}

std::vector<int64_t> with_matrix_sizes(const at::Tensor& scale, int64_t rows, int64_t cols) {
  std::vector<int64_t> sizes = scale.sizes().vec();
  sizes[sizes.size() - 2] = rows;
  sizes[sizes.size() - 1] = cols;
  return sizes;
}

void check_global_scale_from_amax_args(const at::Tensor& input, const at::Tensor& out) {
  TORCH_CHECK(is_activation_dtype(input.scalar_type()),
              "input must be float32, float16 or bfloat16, got ", input.scalar_type());
  TORCH_CHECK(out.scalar_type() == at::kFloat && out.dim() <= 1 && out.numel() == 1,
              "out must be a float32 tensor of shape [] or [1], got ", out.scalar_type(), " ", out.sizes());
  TORCH_CHECK(out.device() == input.device(), "out must be on the input's device ", input.device(), ", got ",
              out.device());
}

FragmentGemmShape check_sm90_scaled_fp4_mm_args(const at::Tensor& x, const at::Tensor& weight,
                                                const at::Tensor& weight_scale, const at::Tensor& alpha,
                                                const c10::optional<at::Tensor>& bias, int64_t n,
                                                const c10::optional<at::Tensor>& x_global_scale) {
  TORCH_CHECK(x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16,
              "x must be float16 or bfloat16, got ", x.scalar_type());
  TORCH_CHECK(x.dim() == 2, "x must be 2-D [M, K], got shape ", x.sizes());
  const int64_t m = x.size(0), k = x.size(1);
  TORCH_CHECK(k > 0 && k % kBlockSize == 0, "x's K must be a positive multiple of 16, got K = ", k);
  TORCH_CHECK(n > 0, "n (the output features) must be positive, got ", n);
  const FragmentGemmShape shape{m, n, k, fragment_padded_rows(n), fragment_padded_k(k)};
  TORCH_CHECK(is_packed_fp4_dtype(weight.scalar_type()), "weight must be uint8 or torch.float4_e2m1fn_x2, got ",
              weight.scalar_type());
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == shape.padded_n && weight.size(1) == shape.padded_k / 2,
              "weight must be [roundup(n,16), roundup(K,64)/2] = [", shape.padded_n, ", ", shape.padded_k / 2,
              "] for n = ", n, " and K = ", k, " (from prepare_weights_for_nvfp4_sm90), got shape ",
              weight.sizes());
  TORCH_CHECK(weight_scale.scalar_type() == at::kFloat8_e4m3fn, "weight_scale must be torch.float8_e4m3fn, got ",
              weight_scale.scalar_type());
  TORCH_CHECK(weight_scale.dim() == 2 && weight_scale.size(0) == shape.padded_n &&
                  weight_scale.size(1) == shape.padded_k / kBlockSize,
              "weight_scale must be [roundup(n,16), roundup(K,64)/16] = [", shape.padded_n, ", ",
              shape.padded_k / kBlockSize, "] (from prepare_weights_for_nvfp4_sm90), got shape ",
              weight_scale.sizes());
  const auto check_prepared = [&](const at::Tensor& tensor, const char* name) {
    TORCH_CHECK(tensor.is_contiguous(), name,
                " must be contiguous (as prepare_weights_for_nvfp4_sm90 returns it), got strides ", tensor.strides());
    TORCH_CHECK(tensor.device() == x.device(), name, " must be on x's device ", x.device(), ", got ",
                tensor.device());
  };
  check_prepared(weight, "weight");
  check_prepared(weight_scale, "weight_scale");
  TORCH_CHECK(alpha.scalar_type() == at::kFloat, "alpha must be float32, got ", alpha.scalar_type());
  TORCH_CHECK((alpha.dim() <= 1 && alpha.numel() == 1) || (alpha.dim() == 1 && alpha.size(0) == n),
              "alpha must be 0-dim, [1] or [n] = [", n, "], got shape ", alpha.sizes());
  TORCH_CHECK(alpha.device() == x.device(), "alpha must be on x's device ", x.device(), ", got ", alpha.device());
  if (bias.has_value()) {
    TORCH_CHECK(bias->scalar_type() == x.scalar_type(), "bias must have x's dtype ", x.scalar_type(), ", got ",
                bias->scalar_type());
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == n, "bias must be [n] = [", n, "], got shape ", bias->sizes());
    TORCH_CHECK(bias->device() == x.device(), "bias must be on x's device ", x.device(), ", got ",
                bias->device());
  }
  if (x_global_scale.has_value()) check_global_scale(*x_global_scale, x, "x", "x_global_scale");
  return shape;
}

Fp4GemmShape check_cutlass_scaled_fp4_mm_args(const at::Tensor& a, const at::Tensor& b,
                                              const at::Tensor& block_scale_a, const at::Tensor& block_scale_b,
                                              const at::Tensor& alpha, const c10::optional<at::Tensor>& bias,
                                              at::ScalarType out_dtype) {
  TORCH_CHECK(out_dtype == at::kBFloat16 || out_dtype == at::kHalf, "out_dtype must be bfloat16 or float16, got ",
              out_dtype);
  for (const auto& [tensor, name] : {std::pair<const at::Tensor&, const char*>{a, "a"}, {b, "b"}}) {
    TORCH_CHECK(is_packed_fp4_dtype(tensor.scalar_type()), name, " must be uint8 or torch.float4_e2m1fn_x2, got ",
                tensor.scalar_type());
    TORCH_CHECK(tensor.dim() == 2, name, " must be 2-D [rows, K/2], got shape ", tensor.sizes());
  }
  const Fp4GemmShape shape{a.size(0), b.size(0), a.size(1) * 2};
  TORCH_CHECK(b.size(1) * 2 == shape.k, "a and b must have the same K: a is [M, K/2] = ", a.sizes(), ", b is ",
              b.sizes());
  // CUTLASS reads 32-value (16-byte) pieces of each row and writes 16-byte pieces of out's rows;
  // N follows the project's padding rule (DESIGN.md section 2).
  TORCH_CHECK(shape.k > 0 && shape.k % 32 == 0,
              "K must be a positive multiple of 32 (pad it at quantization), got K = ", shape.k);
  TORCH_CHECK(shape.n > 0 && shape.n % 32 == 0, "N (b's rows) must be a positive multiple of 32 (pad the weight), got ",
              shape.n);
  const int64_t scale_cols = round_up(shape.k / kBlockSize, kSwizzleTileCols);
  const auto check_scale = [&](const at::Tensor& scale, const char* name, int64_t rows) {
    TORCH_CHECK(scale.scalar_type() == at::kFloat8_e4m3fn, name, " must be torch.float8_e4m3fn, got ",
                scale.scalar_type());
    const int64_t padded_rows = round_up(rows, kSwizzleTileRows);
    TORCH_CHECK(scale.dim() == 2 && scale.size(0) == padded_rows && scale.size(1) == scale_cols, name,
                " must be swizzled [roundup(rows,128), roundup(K/16,4)] = [", padded_rows, ", ", scale_cols,
                "], got shape ", scale.sizes());
  };
  check_scale(block_scale_a, "block_scale_a", shape.m);
  check_scale(block_scale_b, "block_scale_b", shape.n);
  for (const auto& [tensor, name] : {std::pair<const at::Tensor&, const char*>{a, "a"},
                                     {b, "b"},
                                     {block_scale_a, "block_scale_a"},
                                     {block_scale_b, "block_scale_b"}}) {
    TORCH_CHECK(tensor.is_contiguous(), name, " must be contiguous, got strides ", tensor.strides());
    TORCH_CHECK(tensor.device() == a.device(), name, " must be on a's device ", a.device(), ", got ",
                tensor.device());
  }
  TORCH_CHECK(alpha.scalar_type() == at::kFloat, "alpha must be float32, got ", alpha.scalar_type());
  TORCH_CHECK((alpha.dim() <= 1 && alpha.numel() == 1) || (alpha.dim() == 1 && alpha.size(0) == shape.n),
              "alpha must be 0-dim, [1] or [N] = [", shape.n, "], got shape ", alpha.sizes());
  TORCH_CHECK(alpha.device() == a.device(), "alpha must be on a's device ", a.device(), ", got ", alpha.device());
  if (bias.has_value()) {
    TORCH_CHECK(bias->scalar_type() == out_dtype, "bias must have out_dtype ", out_dtype, ", got ",
                bias->scalar_type());
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == shape.n, "bias must be [N] = [", shape.n, "], got shape ",
                bias->sizes());
    TORCH_CHECK(bias->is_contiguous(), "bias must be contiguous, got strides ", bias->strides());
    TORCH_CHECK(bias->device() == a.device(), "bias must be on a's device ", a.device(), ", got ", bias->device());
  }
  return shape;
}

}  // namespace nvfp4
