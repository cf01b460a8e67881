#include "cuda/launch.h"

#include <c10/cuda/CUDAException.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <atomic>

namespace nvfp4::cuda {

namespace {

// A device attribute, queried once per device (every attribute asked for here is positive).
int cached_attribute(cudaDeviceAttr attribute, int device) {
  constexpr int kMaxDevices = 64;
  static std::array<std::array<std::atomic<int>, kMaxDevices>, 2> cache{};  // 0: not queried yet
  TORCH_CHECK(device >= 0 && device < kMaxDevices, "CUDA device index out of range: ", device);
  const int slot = attribute == cudaDevAttrMultiProcessorCount ? 0 : 1;
  TORCH_INTERNAL_ASSERT(slot == 0 || attribute == cudaDevAttrComputeCapabilityMajor);
  int value = cache[slot][device].load(std::memory_order_relaxed);
  if (value == 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
    cache[slot][device].store(value, std::memory_order_relaxed);
  }
  return value;
}

}  // namespace

void check_supported_device(int device, const char* op) {
  if (cached_attribute(cudaDevAttrComputeCapabilityMajor, device) >= 8) return;
  cudaDeviceProp props{};
  C10_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  TORCH_CHECK_NOT_IMPLEMENTED(false, "nvfp4::", op, ": the CUDA kernels need compute capability 8.0 or newer; ",
                              props.name, " (cuda:", device, ") is ", props.major, ".", props.minor);
}

int multiprocessor_count(int device) { return cached_attribute(cudaDevAttrMultiProcessorCount, device); }

bool has_dependent_launch(int device) { return cached_attribute(cudaDevAttrComputeCapabilityMajor, device) >= 9; }

int64_t grid_size(int64_t work, int threads, int device, int blocks_per_multiprocessor) {
  const int64_t needed = (work + threads - 1) / threads;
  const int64_t filling = static_cast<int64_t>(multiprocessor_count(device)) * blocks_per_multiprocessor;
  return std::max<int64_t>(1, std::min(needed, filling));
}

}  // namespace nvfp4::cuda
