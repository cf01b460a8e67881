// Exhaustive GPU checks of the device-side shortcuts of the quantize kernels against format.h's
// definitions, over every fp32 input they can see (torch-free; run by ctest):
// - e4m3_from_scale (the conversion instruction from sm_89 on) against the integer rounding of
//   format.h, for every fp32 in [0, 448];
// - e2m1_code_of_magnitude against the threshold form of the E2M1 rounding rule, for every fp32
//   in [0, +Inf];
// - the scale byte through divide_by_e2m1_max against the IEEE division (gs * amax) / 6, for
//   every fp32 product in [0, +Inf].
// Without a GPU it says so and exits with 77, which ctest reports as skipped.

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>

#include "cuda/device_convert.cuh"
#include "gpu_test.h"
#include "nvfp4/format.h"

namespace {

using nvfp4::testing::check;

__device__ uint32_t e2m1_threshold_code(float a) {
  return (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
}

// Counts, over fp32 bit patterns [0, last], the inputs where each shortcut differs.
__global__ void count_mismatches(uint32_t last, unsigned long long* mismatches) {
  const uint32_t bits_448 = nvfp4::float_bits(448.0f);
  unsigned long long e4m3 = 0, e2m1 = 0, scale = 0;
  for (uint64_t bits = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; bits <= last;
       bits += uint64_t{gridDim.x} * blockDim.x) {
    const float x = nvfp4::float_from_bits(static_cast<uint32_t>(bits));
    if (bits <= bits_448) e4m3 += nvfp4::cuda::e4m3_from_scale(x) != nvfp4::e4m3_from_nonnegative_float_rne(x);
    e2m1 += nvfp4::e2m1_code_of_magnitude(x) != e2m1_threshold_code(x);
    const float divided = __fdiv_rn(x, nvfp4::kE2M1Max);
    const uint8_t expected = nvfp4::e4m3_from_nonnegative_float_rne(divided < 448.0f ? divided : 448.0f);
    scale += nvfp4::cuda::e4m3_from_scale(nvfp4::unrounded_block_scale(x, 1.0f)) != expected;
  }
  atomicAdd(&mismatches[0], e4m3);
  atomicAdd(&mismatches[1], e2m1);
  atomicAdd(&mismatches[2], scale);
}

}  // namespace

int main() {
  cudaDeviceProp props{};
  if (const int status = nvfp4::testing::first_device(props); status != 0) return status;
  unsigned long long* mismatches = nullptr;
  if (!check(cudaMalloc(&mismatches, 3 * sizeof(unsigned long long)), "cudaMalloc")) return 1;
  if (!check(cudaMemset(mismatches, 0, 3 * sizeof(unsigned long long)), "cudaMemset")) return 1;
  count_mismatches<<<props.multiProcessorCount * 8, 256>>>(nvfp4::float_bits(INFINITY), mismatches);
  if (!check(cudaGetLastError(), "launch") || !check(cudaDeviceSynchronize(), "kernel")) return 1;
  unsigned long long counts[3];
  if (!check(cudaMemcpy(counts, mismatches, sizeof(counts), cudaMemcpyDeviceToHost), "cudaMemcpy")) return 1;
  cudaFree(mismatches);
  std::printf("%s (sm_%d%d): e4m3_from_scale %llu, e2m1_code_of_magnitude %llu, scale byte %llu mismatches\n",
              props.name, props.major, props.minor, counts[0], counts[1], counts[2]);
  const bool passed = counts[0] == 0 && counts[1] == 0 && counts[2] == 0;
  std::printf("%s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
