// The functional overloads of every op, for every device at once: allocate the outputs on the
// input's device (shapes from op_checks) and call the `.out` overload through the dispatcher.
// Device files (csrc/cpu, csrc/cuda) implement only `.out`, so each kernel exists once per device
// and every functional call runs exactly the code its `.out` twin runs.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "op_checks.h"

namespace nvfp4::functional {
namespace {

// The typed `.out` overload of op `name`.
template <typename Signature>
c10::TypedOperatorHandle<Signature> out_overload(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "out").typed<Signature>();
}

std::tuple<at::Tensor, at::Tensor> scaled_fp4_quant(const at::Tensor& input, const at::Tensor& global_scale,
                                                    bool swizzle, c10::optional<int64_t> padded_k) {
  const QuantizedLayout layout = check_scaled_fp4_quant_args(input, global_scale, swizzle, padded_k);
  at::Tensor packed = at::empty({layout.rows, layout.packed_cols()}, input.options().dtype(at::kByte));
  at::Tensor block_scale =
      at::empty({layout.scale_rows(), layout.scale_cols()}, input.options().dtype(at::kFloat8_e4m3fn));
  static const auto out = out_overload<void(const at::Tensor&, const at::Tensor&, bool, c10::optional<int64_t>,
                                            at::Tensor&, at::Tensor&)>("nvfp4::scaled_fp4_quant");
  out.call(input, global_scale, swizzle, padded_k, packed, block_scale);
  return {packed, block_scale};
}

at::Tensor dequantize(const at::Tensor& packed, const at::Tensor& block_scale, const at::Tensor& global_scale,
                      bool swizzled, at::ScalarType out_dtype) {
  const QuantizedLayout layout = check_dequantize_args(packed, block_scale, global_scale, swizzled, out_dtype);
  at::Tensor result = at::empty({layout.rows, layout.k}, packed.options().dtype(out_dtype));
  static const auto out = out_overload<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool,
                                            at::ScalarType, at::Tensor&)>("nvfp4::dequantize");
  out.call(packed, block_scale, global_scale, swizzled, out_dtype, result);
  return result;
}

at::Tensor swizzle_blockscale(const at::Tensor& scale) {
  check_linear_blockscale(scale);
  const ScaleMatrices matrices = scale_matrices_of(scale, scale.size(-2), scale.size(-1));
  at::Tensor result =
      at::empty(with_matrix_sizes(scale, matrices.padded_rows(), matrices.padded_cols()), scale.options());
  static const auto out = out_overload<void(const at::Tensor&, at::Tensor&)>("nvfp4::swizzle_blockscale");
  out.call(scale, result);
  return result;
}

at::Tensor unswizzle_blockscale(const at::Tensor& scale, int64_t rows, int64_t cols) {
  check_swizzled_blockscale(scale, rows, cols);
  at::Tensor result = at::empty(with_matrix_sizes(scale, rows, cols), scale.options());
  static const auto out =
      out_overload<void(const at::Tensor&, int64_t, int64_t, at::Tensor&)>("nvfp4::unswizzle_blockscale");
  out.call(scale, rows, cols, result);
  return result;
}

at::Tensor nvfp4_qdq(const at::Tensor& input, const at::Tensor& global_scale) {
  check_qdq_args(input, global_scale);
  at::Tensor result = at::empty_like(input, at::MemoryFormat::Contiguous);
  static const auto out = out_overload<void(const at::Tensor&, const at::Tensor&, at::Tensor&)>("nvfp4::nvfp4_qdq");
  out.call(input, global_scale, result);
  return result;
}

at::Tensor global_scale_from_amax(const at::Tensor& input) {
  at::Tensor result = at::empty({}, input.options().dtype(at::kFloat));
  static const auto out = out_overload<void(const at::Tensor&, at::Tensor&)>("nvfp4::global_scale_from_amax");
  out.call(input, result);
  return result;
}

at::Tensor sm90_scaled_fp4_mm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                              const at::Tensor& alpha, const c10::optional<at::Tensor>& bias, int64_t n,
                              const c10::optional<at::Tensor>& x_global_scale) {
  const FragmentGemmShape shape =
      check_sm90_scaled_fp4_mm_args(x, weight, weight_scale, alpha, bias, n, x_global_scale);
  at::Tensor result = at::empty({shape.m, n}, x.options().memory_format(at::MemoryFormat::Contiguous));
  static const auto out =
      out_overload<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                        const c10::optional<at::Tensor>&, int64_t, const c10::optional<at::Tensor>&, at::Tensor&)>(
          "nvfp4::sm90_scaled_fp4_mm");
  out.call(x, weight, weight_scale, alpha, bias, n, x_global_scale, result);
  return result;
}

at::Tensor cutlass_scaled_fp4_mm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                                 const at::Tensor& block_scale_b, const at::Tensor& alpha,
                                 const c10::optional<at::Tensor>& bias, at::ScalarType out_dtype) {
  const Fp4GemmShape shape =
      check_cutlass_scaled_fp4_mm_args(a, b, block_scale_a, block_scale_b, alpha, bias, out_dtype);
  at::Tensor result = at::empty({shape.m, shape.n}, a.options().dtype(out_dtype));
  static const auto out =
      out_overload<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                        const c10::optional<at::Tensor>&, at::ScalarType, at::Tensor&)>("nvfp4::cutlass_scaled_fp4_mm");
  out.call(a, b, block_scale_a, block_scale_b, alpha, bias, out_dtype, result);
  return result;
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CompositeExplicitAutograd, m) {
  m.impl("scaled_fp4_quant", &scaled_fp4_quant);
  m.impl("dequantize", &dequantize);
  m.impl("swizzle_blockscale", &swizzle_blockscale);
  m.impl("unswizzle_blockscale", &unswizzle_blockscale);
  m.impl("nvfp4_qdq", &nvfp4_qdq);
  m.impl("global_scale_from_amax", &global_scale_from_amax);
  m.impl("sm90_scaled_fp4_mm", &sm90_scaled_fp4_mm);
  m.impl("cutlass_scaled_fp4_mm", &cutlass_scaled_fp4_mm);
}

}  // namespace nvfp4::functional
