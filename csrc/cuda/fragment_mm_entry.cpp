// CUDA entry of sm90_scaled_fp4_mm.out (in _C): checks the arguments, then calls the kernel op of
// the architecture module that serves the device (_fragment_mm_sm90 of _C_sm90 on compute
// capability 9.x), found through the dispatcher; on any other GPU, or in a build without that
// module, the error names the GPU and what the build holds.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "cuda/arch_dispatch.h"
#include "cuda/launch.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

void sm90_scaled_fp4_mm_out(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                            const at::Tensor& alpha, const c10::optional<at::Tensor>& bias, int64_t n,
                            const c10::optional<at::Tensor>& x_global_scale, at::Tensor& out) {
  const FragmentGemmShape shape =
      check_sm90_scaled_fp4_mm_args(x, weight, weight_scale, alpha, bias, n, x_global_scale);
  check_output(out, "out", {shape.m, n}, x.scalar_type(), x.device());
  const c10::OperatorHandle kernel = find_arch_op("_fragment_mm", x.device());
  if (shape.m == 0) return;
  // The kernel reads x with vector loads: a contiguous, 16-byte aligned copy where x is not.
  const bool readable = x.is_contiguous() && is_aligned(x.const_data_ptr(), 16);
  const at::Tensor activations = readable ? x : x.clone(at::MemoryFormat::Contiguous);
  kernel
      .typed<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                  const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&, at::Tensor&)>()
      .call(activations, weight, weight_scale, alpha, bias, x_global_scale, out);
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("sm90_scaled_fp4_mm.out", &sm90_scaled_fp4_mm_out); }

}  // namespace nvfp4::cuda
