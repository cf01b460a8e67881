// sm90_scaled_fp4_mm on the CPU: the Hopper GEMM is a CUDA kernel only. This entry replaces the
// dispatcher's generic "no CPU kernel" error with one that says where the op runs and what
// computes the same product on the CPU.

#include <ATen/ATen.h>
#include <torch/library.h>

namespace nvfp4::cpu {
namespace {

void sm90_scaled_fp4_mm_out(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const c10::optional<at::Tensor>&, int64_t, const c10::optional<at::Tensor>&,
                            at::Tensor&) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, "nvfp4::sm90_scaled_fp4_mm runs on CUDA GPUs of compute capability 9.x; x is on ",
                              x.device(), ". On the CPU, nvfp4.reference.scaled_fp4_mm computes the same product "
                              "from the checkpoint-form weight.");
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CPU, m) { m.impl("sm90_scaled_fp4_mm.out", &sm90_scaled_fp4_mm_out); }

}  // namespace nvfp4::cpu
