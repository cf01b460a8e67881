// cutlass_scaled_fp4_mm on the CPU: the native Blackwell GEMM is a CUDA kernel only. This entry
// replaces the dispatcher's generic "no CPU kernel" error with one that says where the op runs and
// what computes the same product on the CPU.

#include <ATen/ATen.h>
#include <torch/library.h>

namespace nvfp4::cpu {
namespace {

void cutlass_scaled_fp4_mm_out(const at::Tensor& a, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                               const at::Tensor&, const c10::optional<at::Tensor>&, at::ScalarType, at::Tensor&) {
  TORCH_CHECK_NOT_IMPLEMENTED(false,
                              "nvfp4::cutlass_scaled_fp4_mm runs on CUDA GPUs of compute capability 10.x and 12.x; "
                              "a is on ",
                              a.device(),
                              ". On the CPU, nvfp4.reference.scaled_fp4_mm of nvfp4.reference.dequantize(a) and "
                              "the checkpoint-form b computes the same product.");
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CPU, m) { m.impl("cutlass_scaled_fp4_mm.out", &cutlass_scaled_fp4_mm_out); }

}  // namespace nvfp4::cpu
