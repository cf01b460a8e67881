#include "cuda/launch.h"

#include <c10/cuda/CUDAException.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <atomic>

namespace nvfp4::cuda {

int multiprocessor_count(int device) {
  static std::array<std::atomic<int>, 64> cache{};  // 0: not queried yet
  TORCH_CHECK(device >= 0 && device < static_cast<int>(cache.size()), "CUDA device index out of range: ", device);
  int count = cache[device].load(std::memory_order_relaxed);
  if (count == 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    cache[device].store(count, std::memory_order_relaxed);
  }
  return count;
}

int64_t grid_size(int64_t work, int threads, int device, int blocks_per_multiprocessor) {
  const int64_t needed = (work + threads - 1) / threads;
  const int64_t filling = static_cast<int64_t>(multiprocessor_count(device)) * blocks_per_multiprocessor;
  return std::max<int64_t>(1, std::min(needed, filling));
}

}  // namespace nvfp4::cuda
