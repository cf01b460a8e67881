// CPU kernels of scaled_fp4_quant and global_scale_from_amax: the reference-speed, bit-exact
// implementation of DESIGN.md section 1.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "cpu/quantized_rows.h"
#include "dtype_dispatch.h"
#include "op_checks.h"

namespace nvfp4::cpu {
namespace {

// Values quantized per parallel task: large enough to amortise the task, small enough to split
// a matrix of a few rows across threads.
constexpr int64_t kValuesPerTask = 1 << 16;

void scaled_fp4_quant_out(const at::Tensor& input, const at::Tensor& global_scale, bool swizzle,
                          c10::optional<int64_t> padded_k, at::Tensor& packed, at::Tensor& block_scale) {
  const QuantizedLayout layout = check_scaled_fp4_quant_args(input, global_scale, swizzle, padded_k);
  check_output(packed, "packed", {layout.rows, layout.packed_cols()}, at::kByte, input.device());
  check_output(block_scale, "block_scale", {layout.scale_rows(), layout.scale_cols()},
               at::kFloat8_e4m3fn, input.device());
  const at::Tensor x = input.contiguous();
  const float gs = global_scale.item<float>();
  auto* packed_data = static_cast<uint8_t*>(packed.data_ptr());
  auto* scale_data = static_cast<uint8_t*>(block_scale.data_ptr());
  const int64_t grain = std::max<int64_t>(1, kValuesPerTask / std::max<int64_t>(layout.padded_k, 1));
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::scaled_fp4_quant (CPU)", [&] {
    const scalar_t* values = x.const_data_ptr<scalar_t>();
    at::parallel_for(0, layout.scale_rows(), grain, [&](int64_t begin, int64_t end) {
      quantize_rows(values, layout, gs, packed_data, scale_data, begin, end);
    });
  });
}

// max |x| over the tensor; a NaN anywhere makes it NaN (as torch.amax).
template <typename T>
float amax_of(const T* values, int64_t count) {
  auto combine = [](float running, float a) { return (a > running || a != a) ? a : running; };
  return at::parallel_reduce(
      0, count, kValuesPerTask, 0.0f,
      [&](int64_t begin, int64_t end, float running) {
        for (int64_t i = begin; i < end; ++i) {
          const float v = static_cast<float>(values[i]);
          running = combine(running, v < 0.0f ? -v : v);
        }
        return running;
      },
      combine);
}

void global_scale_from_amax_out(const at::Tensor& input, at::Tensor& out) {
  check_global_scale_from_amax_args(input, out);
  const at::Tensor x = input.contiguous();
  float amax = 0.0f;
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::global_scale_from_amax (CPU)", [&] {
    amax = amax_of(x.const_data_ptr<scalar_t>(), x.numel());
  });
  *static_cast<float*>(out.data_ptr()) = nvfp4::global_scale_from_amax(amax);
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CPU, m) {
  m.impl("scaled_fp4_quant.out", &scaled_fp4_quant_out);
  m.impl("global_scale_from_amax.out", &global_scale_from_amax_out);
}

}  // namespace nvfp4::cpu
