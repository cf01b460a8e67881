/*! \file
    \brief CPU quantizer benchmark: the row loop of the CPU kernel (csrc/cpu/quantized_rows.h) on
    one thread, verified, then timed.

    Quantizes an M x K fp32 matrix to NVFP4 with a swizzled (or linear) block-scale layout,
    checks the result (every padding byte zero, dequantized relative error in the range E2M1
    gives, not all zero), then reports time and GB/s (bytes read + written).

    Usage:
      bench_quantize_cpu [--m=<rows>] [--k=<cols>] [--padded_k=<cols>] [--linear]
                         [--iterations=<n>]
      bench_quantize_cpu --m=1024 --k=4096 --iterations=20
*/

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/quantized_rows.h"
#include "nvfp4/layout.h"
#include "quantize_options.h"

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Options and results
///////////////////////////////////////////////////////////////////////////////////////////////////

using Options = QuantizeOptions;

// Bytes read plus written by one quantization.
double bytes_moved(const QuantizeOptions& options) {
  const nvfp4::QuantizedLayout layout{options.m, options.k, options.padded_k, options.swizzled};
  return 4.0 * options.m * options.k + layout.rows * layout.packed_cols() + layout.scale_rows() * layout.scale_cols();
}

struct Result {
  double avg_runtime_ms = 0;
  double gbps = 0;
  bool passed = false;
};

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Setup, verification and timing
///////////////////////////////////////////////////////////////////////////////////////////////////

std::vector<float> random_matrix(const Options& options) {
  std::mt19937 rng(2024);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> exponent(-4, 4);  // within the block scales' normal range
  std::vector<float> x(options.m * options.k);
  for (size_t block = 0; block < x.size() / 16; ++block) {
    const float scale = std::ldexp(1.0f, exponent(rng));  // blocks of different magnitudes
    for (int i = 0; i < 16; ++i) x[block * 16 + i] = normal(rng) * scale;
  }
  return x;
}

float global_scale_of(const std::vector<float>& x) {
  float amax = 0.0f;
  for (float v : x) amax = std::fmax(amax, std::fabs(v));
  return nvfp4::global_scale_from_amax(amax);
}

bool verify(const Options& options, const nvfp4::QuantizedLayout& layout, const std::vector<float>& x, float gs,
            const std::vector<uint8_t>& packed, const std::vector<uint8_t>& scale) {
  for (int64_t r = 0; r < layout.scale_rows(); ++r) {
    for (int64_t c = 0; c < layout.scale_cols(); ++c) {
      const bool real = r < layout.rows && c < layout.real_scale_cols();
      if (!real && scale[layout.scale_offset(r, c)] != 0) return false;
    }
  }
  for (int64_t r = 0; r < layout.rows; ++r) {
    for (int64_t byte = layout.k / 2; byte < layout.packed_cols(); ++byte) {
      if (packed[r * layout.packed_cols() + byte] != 0) return false;
    }
  }
  // Relative error per block, so that small-magnitude blocks count as much as large ones.
  double worst = 0;
  bool any_nonzero = false;
  const nvfp4::QuantizedLayout stored{layout.rows, layout.padded_k, layout.padded_k, layout.swizzled};
  std::vector<float> back(options.m * options.padded_k);
  nvfp4::cpu::dequantize_rows(packed.data(), scale.data(), stored, gs, back.data(), 0, options.m);
  for (int64_t r = 0; r < options.m; ++r) {
    for (int64_t block = 0; block < options.k / 16; ++block) {
      double error = 0, norm = 0;
      for (int i = 0; i < 16; ++i) {
        const double v = x[r * options.k + block * 16 + i], d = back[r * options.padded_k + block * 16 + i];
        error += (v - d) * (v - d);
        norm += v * v;
        any_nonzero = any_nonzero || d != 0;
      }
      if (norm > 0) worst = std::fmax(worst, std::sqrt(error / norm));
    }
  }
  return any_nonzero && worst < 0.5;  // the E2M1 grid bounds each block's error
}

Result run(const Options& options) {
  const nvfp4::QuantizedLayout layout{options.m, options.k, options.padded_k, options.swizzled};
  const std::vector<float> x = random_matrix(options);
  const float gs = global_scale_of(x);
  std::vector<uint8_t> packed(layout.rows * layout.packed_cols(), 0x7F);
  std::vector<uint8_t> scale(layout.scale_rows() * layout.scale_cols(), 0x7F);  // poisoned
  auto quantize = [&] {
    nvfp4::cpu::quantize_rows(x.data(), layout, gs, packed.data(), scale.data(), 0, layout.scale_rows());
  };
  quantize();
  Result result;
  result.passed = verify(options, layout, x, gs, packed, scale);
  if (options.iterations > 0) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < options.iterations; ++i) quantize();
    const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    result.avg_runtime_ms = elapsed.count() / options.iterations;
    result.gbps = bytes_moved(options) / (result.avg_runtime_ms * 1e6);
  }
  return result;
}

int main(int argc, char** argv) {
  Options options(1024, 4096, 20);
  if (!options.parse(argc, argv) || options.help) {
    options.print_usage("bench_quantize_cpu", "NVFP4 quantization of an M x K fp32 matrix on one CPU thread");
    return options.help ? 0 : 1;
  }
  const Result result = run(options);
  std::printf("  Disposition: %s\n", result.passed ? "Passed" : "Failed");
  std::printf("  Problem Size: %ldx%ld (stored K %ld, %s scales)\n", long(options.m), long(options.k),
              long(options.padded_k), options.swizzled ? "swizzled" : "linear");
  if (options.iterations > 0) {
    std::printf("  Avg runtime: %.3f ms\n  Throughput: %.2f GB/s (read + written)\n", result.avg_runtime_ms,
                result.gbps);
  }
  return result.passed ? 0 : 1;
}
