// nvfp4._C_sm90: the kernel op of sm90_scaled_fp4_mm (_fragment_mm_sm90), called by the public
// op's CUDA entry in _C with checked arguments: plans the call, takes the workspace of a wgmma
// call (x in step order, split sums) from the caching allocator and launches the kernels (fragment_gemm.cuh) on the
// current stream.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/launch.h"  // is_aligned (inline: this module does not link _C's launch.cpp)
#include "sm90/fragment_gemm.cuh"

namespace nvfp4::sm90 {
namespace {

int multiprocessors(int device) {
  int count = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

template <typename T>
void run(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale, const at::Tensor& alpha,
         const c10::optional<at::Tensor>& bias, at::Tensor& out) {
  const int64_t m = x.size(0), k = x.size(1), n = out.size(1);
  const int64_t padded_n = weight.size(0), k_tiles = weight.size(1) * 2 / kFragmentK;
  const int sms = multiprocessors(x.get_device());
  const FragmentMmPlan plan = plan_fragment_mm(m, padded_n, k_tiles, sms);
  at::Tensor workspace = at::empty({workspace_bytes(plan)}, x.options().dtype(at::kByte));
  const T* bias_data = bias.has_value() ? reinterpret_cast<const T*>(bias->const_data_ptr()) : nullptr;
  C10_CUDA_CHECK(launch_fragment_mm<T>(plan, reinterpret_cast<const T*>(x.const_data_ptr()), m, k,
                                       weight.const_data_ptr(), weight_scale.const_data_ptr(), padded_n, k_tiles,
                                       workspace.mutable_data_ptr(), alpha.const_data_ptr<float>(),
                                       alpha.numel() > 1, bias_data, reinterpret_cast<T*>(out.mutable_data_ptr()), n,
                                       sms, c10::cuda::getCurrentCUDAStream()));
}

void fragment_mm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                 const at::Tensor& alpha, const c10::optional<at::Tensor>& bias, at::Tensor& out) {
  TORCH_CHECK(cuda::is_aligned(weight.const_data_ptr(), 16) && cuda::is_aligned(weight_scale.const_data_ptr(), 8),
              "weight must be 16-byte and weight_scale 8-byte aligned (as prepare_weights_for_nvfp4_sm90 "
              "allocates them)");
  const c10::cuda::CUDAGuard device_guard(x.device());
  if (x.scalar_type() == at::kHalf) {
    run<__half>(x, weight, weight_scale, alpha, bias, out);
  } else {
    run<__nv_bfloat16>(x, weight, weight_scale, alpha, bias, out);
  }
}

}  // namespace
}  // namespace nvfp4::sm90

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_fragment_mm_sm90", &nvfp4::sm90::fragment_mm); }
