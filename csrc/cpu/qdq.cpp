// CPU kernel of nvfp4_qdq: e2m1 * sf of each value, in the input's 16-bit dtype.

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

void nvfp4_qdq_out(const at::Tensor& input, const at::Tensor& global_scale, at::Tensor& out) {
  const QuantizedLayout layout = check_qdq_args(input, global_scale);
  check_output(out, "out", input.sizes(), input.scalar_type(), input.device());
  const at::Tensor x = input.contiguous();
  const float gs = global_scale.item<float>();
  const int64_t grain = std::max<int64_t>(1, kValuesPerTask / std::max<int64_t>(layout.k, 1));
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::nvfp4_qdq (CPU)", [&] {
    const scalar_t* values = x.const_data_ptr<scalar_t>();
    scalar_t* out_data = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, layout.rows, grain, [&](int64_t begin, int64_t end) {
      qdq_rows(values, layout.k, gs, out_data, begin, end);
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CPU, m) {
  m.impl("nvfp4_qdq.out", &nvfp4_qdq_out);
}

}  // namespace nvfp4::cpu
