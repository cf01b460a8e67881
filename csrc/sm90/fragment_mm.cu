// nvfp4._C_sm90: the kernel op of sm90_scaled_fp4_mm (_fragment_mm_sm90), called by the public
// op's CUDA entry in _C with checked arguments. Picks the batch tiling and the K split, runs the
// split-K kernel of fragment_mm_kernel.cuh and its epilogue on the current stream.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "cuda/launch.h"  // is_aligned (inline: this module does not link _C's launch.cpp)
#include "sm90/fragment_mm_kernel.cuh"

namespace nvfp4::sm90 {
namespace {

// Smallest K range a split gets, in tiles of 64: below it the partial sums cost more than the
// parallelism gains.
constexpr int64_t kMinTilesPerSplit = 4;
// Warps the grid aims to keep resident per multiprocessor, for enough loads in flight.
constexpr int64_t kTargetWarpsPerMultiprocessor = 32;

int multiprocessors(int device) {
  int count = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

template <typename T, int kNTiles>
void launch_partial(const FragmentMmParams& params, int64_t strip_blocks, int64_t splits, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(strip_blocks), static_cast<unsigned>(splits),
                  static_cast<unsigned>((params.m + 8 * kNTiles - 1) / (8 * kNTiles)));
  fragment_mm_partial_kernel<T, kNTiles><<<grid, kWarpsPerBlock * 32, 0, stream>>>(params);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T>
void run(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale, const at::Tensor& alpha,
         const c10::optional<at::Tensor>& bias, at::Tensor& out) {
  const int64_t m = x.size(0), k = x.size(1), n = out.size(1);
  const int64_t padded_n = weight.size(0), k_tiles = weight.size(1) * 2 / kFragmentK;
  const int64_t strips = padded_n / kFragmentRows;
  const int n_tiles = m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
  const int64_t m_blocks = (m + 8 * n_tiles - 1) / (8 * n_tiles);
  const int64_t strip_blocks = (strips + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const int64_t warps = strip_blocks * kWarpsPerBlock * m_blocks;
  const int sms = multiprocessors(x.get_device());
  const int64_t wanted_warps = kTargetWarpsPerMultiprocessor * sms;
  const int64_t splits = std::clamp<int64_t>((wanted_warps + warps - 1) / warps, 1,
                                             std::max<int64_t>(1, k_tiles / kMinTilesPerSplit));
  const int64_t tiles_per_split = (k_tiles + splits - 1) / splits;
  const int64_t used_splits = (k_tiles + tiles_per_split - 1) / tiles_per_split;

  at::Tensor partial = at::empty({used_splits, m, padded_n}, x.options().dtype(at::kFloat));
  const FragmentMmParams params{x.const_data_ptr(),
                                m,
                                k,
                                static_cast<const uint4*>(weight.const_data_ptr()),
                                static_cast<const uint2*>(weight_scale.const_data_ptr()),
                                strips,
                                k_tiles,
                                tiles_per_split,
                                partial.mutable_data_ptr<float>(),
                                padded_n};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  switch (n_tiles) {
    case 1: launch_partial<T, 1>(params, strip_blocks, used_splits, stream); break;
    case 2: launch_partial<T, 2>(params, strip_blocks, used_splits, stream); break;
    case 4: launch_partial<T, 4>(params, strip_blocks, used_splits, stream); break;
    default: launch_partial<T, 8>(params, strip_blocks, used_splits, stream); break;
  }
  constexpr int kEpilogueThreads = 256;
  const int64_t grid = std::min<int64_t>((m * n + kEpilogueThreads - 1) / kEpilogueThreads, int64_t{8} * sms);
  const T* bias_data = bias.has_value() ? reinterpret_cast<const T*>(bias->const_data_ptr()) : nullptr;
  fragment_mm_epilogue_kernel<T><<<grid, kEpilogueThreads, 0, stream>>>(
      partial.const_data_ptr<float>(), used_splits, m, n, padded_n, alpha.const_data_ptr<float>(),
      alpha.numel() > 1, bias_data, reinterpret_cast<T*>(out.mutable_data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
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
