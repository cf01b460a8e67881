/*! \file
    \brief CUDA quantizer benchmark: the kernel of scaled_fp4_quant (csrc/cuda/quantize_kernel.cuh),
    verified against the CPU kernel byte for byte, then timed.

    Quantizes an M x K bf16 matrix to NVFP4 with swizzled (or linear) block scales into buffers
    filled with 0x7F, compares every byte with the CPU row loop (csrc/cpu/quantized_rows.h), then
    times the kernel with CUDA events and reports GB/s (bytes read + written). Without a CUDA GPU
    it says so and exits 0.

    Usage:
      bench_quantize_cuda [--m=<rows>] [--k=<cols>] [--padded_k=<cols>] [--linear] [--iterations=<n>]
      bench_quantize_cuda --m=8192 --k=8192 --iterations=100
*/

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cpu/quantized_rows.h"
#include "cuda/quantize_kernel.cuh"
#include "cuda_timing.h"
#include "quantize_options.h"

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Options and results
///////////////////////////////////////////////////////////////////////////////////////////////////

using Options = QuantizeOptions;

struct Result {
  double avg_runtime_us = 0;
  double gbps = 0;
  bool passed = false;
};

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Setup, verification and timing
///////////////////////////////////////////////////////////////////////////////////////////////////

bool run(const Options& options, Result& result) {
  const nvfp4::QuantizedLayout layout{options.m, options.k, options.padded_k, options.swizzled};
  std::mt19937 rng(2024);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> exponent(-4, 4);
  std::vector<__nv_bfloat16> x(options.m * options.k);
  float amax = 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = __float2bfloat16(normal(rng) * std::ldexp(1.0f, exponent(rng)));
    amax = std::fmax(amax, std::fabs(__bfloat162float(x[i])));
  }
  const float gs = nvfp4::global_scale_from_amax(amax);
  const size_t packed_bytes = layout.rows * layout.packed_cols(), scale_bytes = layout.scale_rows() * layout.scale_cols();

  std::vector<uint8_t> expected_packed(packed_bytes), expected_scale(scale_bytes);
  nvfp4::cpu::quantize_rows(x.data(), layout, gs, expected_packed.data(), expected_scale.data(), 0, layout.scale_rows());

  __nv_bfloat16* device_x = nullptr;
  float* device_gs = nullptr;
  uint8_t *device_packed = nullptr, *device_scale = nullptr;
  CHECK_CUDA(cudaMalloc(&device_x, x.size() * sizeof(__nv_bfloat16) + 1));
  CHECK_CUDA(cudaMalloc(&device_gs, sizeof(float)));
  CHECK_CUDA(cudaMalloc(&device_packed, packed_bytes + 1));
  CHECK_CUDA(cudaMalloc(&device_scale, scale_bytes + 1));
  CHECK_CUDA(cudaMemcpy(device_x, x.data(), x.size() * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_gs, &gs, sizeof(float), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemset(device_packed, 0x7F, packed_bytes));
  CHECK_CUDA(cudaMemset(device_scale, 0x7F, scale_bytes));

  int device = 0, multiprocessors = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  CHECK_CUDA(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  const int64_t work = layout.scale_rows() * layout.scale_cols();
  const int64_t grid = std::max<int64_t>(
      1, std::min<int64_t>((work + nvfp4::cuda::kQuantizeThreads - 1) / nvfp4::cuda::kQuantizeThreads,
                           int64_t{nvfp4::cuda::kQuantizeBlocksPerMultiprocessor} * multiprocessors));
  auto launch = [&] {
    return nvfp4::cuda::launch_quantize_kernel<__nv_bfloat16, true>(device_x, device_gs, layout, device_packed,
                                                                    device_scale, grid, nullptr);
  };
  CHECK_CUDA(launch());
  CHECK_CUDA(cudaDeviceSynchronize());

  std::vector<uint8_t> packed(packed_bytes), scale(scale_bytes);
  CHECK_CUDA(cudaMemcpy(packed.data(), device_packed, packed_bytes, cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(scale.data(), device_scale, scale_bytes, cudaMemcpyDeviceToHost));
  bool any_nonzero = false;
  for (uint8_t byte : packed) any_nonzero = any_nonzero || byte != 0;
  result.passed = packed == expected_packed && scale == expected_scale && (any_nonzero || options.m == 0);

  if (options.iterations > 0) {
    if (!time_launches(launch, options.iterations, result.avg_runtime_us)) return false;
    const double moved = 2.0 * x.size() + packed_bytes + scale_bytes;
    result.gbps = moved / (result.avg_runtime_us * 1e3);
  }
  cudaFree(device_x);
  cudaFree(device_gs);
  cudaFree(device_packed);
  cudaFree(device_scale);
  return true;
}

int main(int argc, char** argv) {
  Options options(8192, 8192, 100);
  if (!options.parse(argc, argv) || options.help) {
    options.print_usage("bench_quantize_cuda", "NVFP4 quantization of an M x K bf16 matrix on the GPU");
    return options.help ? 0 : 1;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("bench_quantize_cuda: no CUDA GPU here; nothing to run.\n");
    return 0;
  }
  Result result;
  if (!run(options, result)) return 1;
  std::printf("  Disposition: %s\n", result.passed ? "Passed" : "Failed");
  std::printf("  Problem Size: %ldx%ld bf16 (stored K %ld, %s scales)\n", long(options.m), long(options.k),
              long(options.padded_k), options.swizzled ? "swizzled" : "linear");
  if (options.iterations > 0) {
    std::printf("  Avg runtime: %.2f us\n  Throughput: %.0f GB/s (read + written)\n", result.avg_runtime_us,
                result.gbps);
  }
  return result.passed ? 0 : 1;
}
