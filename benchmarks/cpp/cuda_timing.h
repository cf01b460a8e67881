// What the CUDA benchmarks share: a CUDA error check for functions that return bool, and the
// average time of back-to-back launches measured with CUDA events.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>

#define CHECK_CUDA(call)                                                                               \
  do {                                                                                                 \
    const cudaError_t status = (call);                                                                 \
    if (status != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(status)); \
      return false;                                                                                    \
    }                                                                                                  \
  } while (0)

// Microseconds per call of `launch` (returning a cudaError_t) over `iterations` calls on the
// default stream, in `average_us`. Returns false on a CUDA error.
template <typename Launch>
bool time_launches(Launch&& launch, int iterations, double& average_us) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < iterations; ++i) CHECK_CUDA(launch());
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float milliseconds = 0;
  CHECK_CUDA(cudaEventElapsedTime(&milliseconds, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  average_us = 1e3 * milliseconds / iterations;
  return true;
}
