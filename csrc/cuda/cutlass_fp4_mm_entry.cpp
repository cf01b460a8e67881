// CUDA entry of cutlass_scaled_fp4_mm.out (in _C): checks the arguments, then calls the kernel op
// of the architecture module that serves the device (_cutlass_fp4_mm_sm100 of _C_sm100 on compute
// capability 10.x, _cutlass_fp4_mm_sm120 of _C_sm120 on 12.x), found through the dispatcher; on any
// other GPU, or in a build without that module, the error names the GPU and what the build holds.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <utility>

#include "cuda/arch_dispatch.h"
#include "cuda/launch.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

void cutlass_scaled_fp4_mm_out(const at::Tensor& a, const at::Tensor& b, const at::Tensor& block_scale_a,
                               const at::Tensor& block_scale_b, const at::Tensor& alpha,
                               const c10::optional<at::Tensor>& bias, at::ScalarType out_dtype, at::Tensor& out) {
  const Fp4GemmShape shape =
      check_cutlass_scaled_fp4_mm_args(a, b, block_scale_a, block_scale_b, alpha, bias, out_dtype);
  check_output(out, "out", {shape.m, shape.n}, out_dtype, a.device());
  const c10::OperatorHandle kernel = find_arch_op("_cutlass_fp4_mm", a.device());
  if (shape.m == 0) return;
  // TMA reads and writes whole 16-byte pieces from the start of each row.
  for (const auto& [tensor, name] : {std::pair<const at::Tensor&, const char*>{a, "a"},
                                     {b, "b"},
                                     {block_scale_a, "block_scale_a"},
                                     {block_scale_b, "block_scale_b"},
                                     {out, "out"}}) {
    TORCH_CHECK(is_aligned(tensor.const_data_ptr(), 16), name, " must start on a 16-byte boundary");
  }
  kernel
      .typed<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                  const c10::optional<at::Tensor>&, at::Tensor&)>()
      .call(a, b, block_scale_a, block_scale_b, alpha, bias, out);
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("cutlass_scaled_fp4_mm.out", &cutlass_scaled_fp4_mm_out); }

}  // namespace nvfp4::cuda
