#include "cuda/launch.h"

#include <c10/cuda/CUDAException.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <atomic>

namespace nvfp4::cuda {

void check_supported_device(int device, const char* op) {
  static std::array<std::atomic<int>, 64> majors{};  // 0: not queried yet
  TORCH_CHECK(device >= 0 && device < static_cast<int>(majors.size()), "CUDA device index out of range: ", device);
  int major = majors[device].load(std::memory_order_relaxed);
  if (major == 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    majors[device].store(major, std::memory_order_relaxed);
  }
  if (major >= 8) return;
  cudaDeviceProp props{};
  C10_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  TORCH_CHECK_NOT_IMPLEMENTED(false, "nvfp4::", op, ": the CUDA kernels need compute capability 8.0 or newer; ",
                              props.name, " (cuda:", device, ") is ", props.major, ".", props.minor);
}

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
