// CPU kernel of dequantize: out = cast((e2m1 * sf) / gs), DESIGN.md section 1.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "cpu/quantized_rows.h"
#include "dtype_dispatch.h"
#include "op_checks.h"

namespace nvfp4::cpu {
namespace {

constexpr int64_t kValuesPerTask = 1 << 16;

void dequantize_out(const at::Tensor& packed, const at::Tensor& block_scale, const at::Tensor& global_scale,
                    bool swizzled, at::ScalarType out_dtype, at::Tensor& out) {
  const QuantizedLayout layout = check_dequantize_args(packed, block_scale, global_scale, swizzled, out_dtype);
  check_output(out, "out", {layout.rows, layout.k}, out_dtype, packed.device());
  const float gs = global_scale.item<float>();
  const auto* packed_data = static_cast<const uint8_t*>(packed.const_data_ptr());
  const auto* scale_data = static_cast<const uint8_t*>(block_scale.const_data_ptr());
  const int64_t grain = std::max<int64_t>(1, kValuesPerTask / std::max<int64_t>(layout.k, 1));
  NVFP4_DISPATCH_FLOAT_TYPES(out_dtype, "nvfp4::dequantize (CPU)", [&] {
    scalar_t* out_data = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, layout.rows, grain, [&](int64_t begin, int64_t end) {
      dequantize_rows(packed_data, scale_data, layout, gs, out_data, begin, end);
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CPU, m) {
  m.impl("dequantize.out", &dequantize_out);
}

}  // namespace nvfp4::cpu
