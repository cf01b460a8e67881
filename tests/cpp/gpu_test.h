// What the torch-free GPU tests share: the exit code ctest reports as skipped (CMakeLists.txt's
// SKIP_RETURN_CODE), the check of a CUDA call, and device 0 or the reason to skip.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>

namespace nvfp4::testing {

constexpr int kSkipped = 77;

// Whether the CUDA call succeeded; if not, says which call failed and why.
inline bool check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return true;
  std::printf("FAILED: %s: %s\n", what, cudaGetErrorString(status));
  return false;
}

// Device 0's properties into `props`: 0 on success, kSkipped (said so) without a CUDA device, 1
// when the query fails.
inline int first_device(cudaDeviceProp& props) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return kSkipped;
  }
  return check(cudaGetDeviceProperties(&props, 0), "cudaGetDeviceProperties") ? 0 : 1;
}

}  // namespace nvfp4::testing
