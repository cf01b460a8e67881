// nvfp4._C_sm90: the kernel op of sm90_scaled_fp4_mm (_fragment_mm_sm90), called by the public op's
// CUDA entry in _C with checked arguments: plans the call, takes its workspace (a wgmma call's x in
// step order, the split sums a second kernel adds up) from the caching allocator and launches the
// kernels (fragment_gemm.cuh) on the current stream, ordering x on a second stream where the plan
// overlaps that with the multiply; in W4A4 mode it rounds x with nvfp4_qdq first unless the kernel
// does. All of the second stream's work is joined back before the last kernel, so the workspace and
// x are free again for the current stream when the op returns.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/launch.h"  // is_aligned (inline: this module does not link _C's launch.cpp)
#include "sm90/fragment_gemm.cuh"

namespace nvfp4::sm90 {
namespace {

// The second stream and the events of a call whose x ordering overlaps its multiply
// (plan.chunks > 1): a stream from the pool, events made for the call and released on any exit
// (a recorded event may be destroyed; its resources go once it completes).
class Overlap {
 public:
  Overlap(int64_t chunks, int device) : chunks_(chunks) {
    if (chunks_ <= 1) return;
    streams_.side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device).stream();
    C10_CUDA_CHECK(cudaEventCreateWithFlags(&streams_.forked, cudaEventDisableTiming));
    for (int64_t c = 0; c < chunks_; ++c) {
      C10_CUDA_CHECK(cudaEventCreateWithFlags(&streams_.ordered[c], cudaEventDisableTiming));
    }
  }
  ~Overlap() {
    if (streams_.forked != nullptr) cudaEventDestroy(streams_.forked);
    for (cudaEvent_t event : streams_.ordered) {
      if (event != nullptr) cudaEventDestroy(event);
    }
  }
  Overlap(const Overlap&) = delete;
  Overlap& operator=(const Overlap&) = delete;
  const OverlapStreams* streams() const { return chunks_ > 1 ? &streams_ : nullptr; }

 private:
  int64_t chunks_;
  OverlapStreams streams_{};
};

int multiprocessors(int device) {
  int count = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

// W4A4 where the plan's kernel does not round x itself: nvfp4_qdq(x, gs) into a new tensor, by the
// op of _C (through the dispatcher: this module does not link its kernels). It is launched before
// the GEMM, whose programmatic dependent launch then overlaps its weight loads with the rounding.
at::Tensor rounded_activations(const at::Tensor& x, const at::Tensor& global_scale) {
  static const auto qdq = c10::Dispatcher::singleton()
                              .findSchemaOrThrow("nvfp4::nvfp4_qdq", "out")
                              .typed<void(const at::Tensor&, const at::Tensor&, at::Tensor&)>();
  at::Tensor rounded = at::empty_like(x);
  qdq.call(x, global_scale, rounded);
  return rounded;
}

template <typename T>
void run(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale, const at::Tensor& alpha,
         const c10::optional<at::Tensor>& bias, const c10::optional<at::Tensor>& x_global_scale, at::Tensor& out) {
  const int64_t m = x.size(0), k = x.size(1), n = out.size(1);
  const int64_t padded_n = weight.size(0), k_tiles = weight.size(1) * 2 / kFragmentK;
  const int sms = multiprocessors(x.get_device());
  const FragmentMmPlan plan = plan_fragment_mm(m, padded_n, k_tiles, sms);
  const bool round_in_kernel = x_global_scale.has_value() && rounds_x(plan, m);
  const bool round_before = x_global_scale.has_value() && !round_in_kernel;
  const at::Tensor activations = round_before ? rounded_activations(x, *x_global_scale) : x;
  at::Tensor workspace = at::empty({workspace_bytes(plan)}, x.options().dtype(at::kByte));
  const Overlap overlap(plan.chunks, x.get_device());
  const T* bias_data = bias.has_value() ? reinterpret_cast<const T*>(bias->const_data_ptr()) : nullptr;
  C10_CUDA_CHECK(launch_fragment_mm<T>(plan, reinterpret_cast<const T*>(activations.const_data_ptr()), m, k,
                                       round_in_kernel ? x_global_scale->const_data_ptr<float>() : nullptr,
                                       round_before,
                                       weight.const_data_ptr(), weight_scale.const_data_ptr(), padded_n, k_tiles,
                                       workspace.mutable_data_ptr(), alpha.const_data_ptr<float>(),
                                       alpha.numel() > 1, bias_data, reinterpret_cast<T*>(out.mutable_data_ptr()), n,
                                       sms, overlap.streams(), c10::cuda::getCurrentCUDAStream()));
}

void fragment_mm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                 const at::Tensor& alpha, const c10::optional<at::Tensor>& bias,
                 const c10::optional<at::Tensor>& x_global_scale, at::Tensor& out) {
  TORCH_CHECK(cuda::is_aligned(weight.const_data_ptr(), 16) && cuda::is_aligned(weight_scale.const_data_ptr(), 8),
              "weight must be 16-byte and weight_scale 8-byte aligned (as prepare_weights_for_nvfp4_sm90 "
              "allocates them)");
  const c10::cuda::CUDAGuard device_guard(x.device());
  if (x.scalar_type() == at::kHalf) {
    run<__half>(x, weight, weight_scale, alpha, bias, x_global_scale, out);
  } else {
    run<__nv_bfloat16>(x, weight, weight_scale, alpha, bias, x_global_scale, out);
  }
}

}  // namespace
}  // namespace nvfp4::sm90

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) { m.impl("_fragment_mm_sm90", &nvfp4::sm90::fragment_mm); }
