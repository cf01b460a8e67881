/*! \file
    \brief Blackwell NVFP4 GEMM benchmark: each kernel configuration of one architecture
    (csrc/sm100/fp4_gemm_configs.cuh for bench_fp4_gemm_sm100, csrc/sm120/fp4_gemm_configs.cuh for
    bench_fp4_gemm_sm120: this file built with NVFP4_BENCH_ARCH 100 or 120), launched through
    csrc/sm1xx/fp4_gemm_run.cuh, verified against a CPU product, then timed.

    Builds random NVFP4 operands A [M, K] and B [N, K] (random code bytes, scale bytes 0x00..0x7E)
    with their scales in the swizzled layout (DESIGN.md section 2, padding zero), checks
    out = alpha * (A @ B^T) + bias on the first, middle and last rows against a CPU loop over the
    decoded values (relative Frobenius error <= 5e-3, DESIGN.md section 3), then times launches
    replayed as one CUDA graph, rotating over copies of B that hold at least 200 MB in all. Reports
    microseconds and TFLOP/s. Without a GPU of the architecture's compute capability it says so
    and exits 0: it has run on no such GPU yet.

    Usage:
      bench_fp4_gemm_sm100 [--m=<rows>] [--n=<out features>] [--k=<in features>] [--iterations=<n>]
                           [--config=<name>] [--per_column_alpha] [--bias]
      bench_fp4_gemm_sm100 --m=1024 --n=8192 --k=8192 --config=2sm_256x256
*/

#include <cuda_runtime_api.h>
#include <cutlass/bfloat16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "command_line.h"
#include "cuda_timing.h"
#include "gemm_bench.h"
#include "nvfp4/format.h"
#include "nvfp4/layout.h"
#include "sm1xx/fp4_gemm_run.cuh"

#if NVFP4_BENCH_ARCH == 100
#include "sm100/fp4_gemm_configs.cuh"
#elif NVFP4_BENCH_ARCH == 120
#include "sm120/fp4_gemm_configs.cuh"
#else
#error "NVFP4_BENCH_ARCH must be 100 or 120"
#endif

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Options and results
///////////////////////////////////////////////////////////////////////////////////////////////////

// The architecture's configurations, by name: the first is the default.
#if NVFP4_BENCH_ARCH == 100
constexpr const char* kProgram = "bench_fp4_gemm_sm100";
constexpr int kComputeMajor = 10;
constexpr const char* kConfigs[] = {"1sm_128x128", "2sm_256x128", "2sm_256x256"};
#else
constexpr const char* kProgram = "bench_fp4_gemm_sm120";
constexpr int kComputeMajor = 12;
constexpr const char* kConfigs[] = {"cooperative_128x128x128", "pingpong_128x128x256"};
#endif

struct Options {
  int m = 1024;
  int n = 8192;
  int k = 8192;
  int iterations = 100;
  std::string config = kConfigs[0];
  bool per_column_alpha = false;
  bool bias = false;
  bool help = false;

  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&](const char* name) { return option_value(arg, name); };
      if (const char* v = value("m")) m = std::atoi(v);
      else if (const char* v = value("n")) n = std::atoi(v);
      else if (const char* v = value("k")) k = std::atoi(v);
      else if (const char* v = value("iterations")) iterations = std::atoi(v);
      else if (const char* v = value("config")) config = v;
      else if (arg == "--per_column_alpha") per_column_alpha = true;
      else if (arg == "--bias") bias = true;
      else if (arg == "--help") help = true;
      else {
        std::fprintf(stderr, "unknown argument %s\n", argv[i]);
        return false;
      }
    }
    const bool config_valid = std::find(std::begin(kConfigs), std::end(kConfigs), config) != std::end(kConfigs);
    return m >= 1 && n >= 8 && n % 8 == 0 && k >= 32 && k % 32 == 0 && iterations >= 0 && config_valid;
  }

  void print_usage() const {
    std::string configs;
    for (const char* name : kConfigs) configs += std::string(configs.empty() ? "" : ", ") + name;
    std::printf(
        "%s: the SM%d NVFP4 GEMM (NVFP4 A and B, bf16 out)\n\n"
        "  --m=<int>            rows of A (default %d)\n"
        "  --n=<int>            rows of B, a multiple of 8 (default %d)\n"
        "  --k=<int>            values a row, a multiple of 32 (default %d)\n"
        "  --iterations=<n>     timed launches; 0 only verifies (default %d)\n"
        "  --config=<name>      %s (default %s)\n"
        "  --per_column_alpha   one alpha a column of the output instead of one for all\n"
        "  --bias               add a bias a column\n\n"
        "Example: %s --m=1024 --n=8192 --k=8192\n",
        kProgram, kComputeMajor * 10, m, n, k, iterations, configs.c_str(), config.c_str(), kProgram);
  }
};

struct Result {
  double relative_error = 0;
  double avg_runtime_us = 0;
  bool passed = false;
};

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Setup, verification and timing
///////////////////////////////////////////////////////////////////////////////////////////////////

// Random NVFP4 rows: codes (two a byte), and scales in the swizzled layout with zero padding.
struct Operand {
  std::vector<uint8_t> codes;
  std::vector<uint8_t> scales;
  int rows;
  int k;

  Operand(int rows_, int k_, std::mt19937& rng) : rows(rows_), k(k_) {
    std::uniform_int_distribution<int> byte(0, 255), scale_byte(0, 0x7E);
    codes.resize(size_t(rows) * k / 2);
    for (auto& b : codes) b = static_cast<uint8_t>(byte(rng));
    scales.assign(size_t(nvfp4::round_up(rows, nvfp4::kSwizzleTileRows) * padded_scale_cols()), 0);
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t col = 0; col < k / nvfp4::kBlockSize; ++col) {
        scales[nvfp4::swizzled_scale_offset<int64_t>(row, col, padded_scale_cols())] =
            static_cast<uint8_t>(scale_byte(rng));
      }
    }
  }
  int64_t padded_scale_cols() const { return nvfp4::round_up(k / nvfp4::kBlockSize, nvfp4::kSwizzleTileCols); }
  double value(int64_t row, int64_t i) const {
    const uint8_t pair = codes[size_t(row) * k / 2 + i / 2];
    const uint8_t code = i % 2 == 0 ? pair & 0xF : pair >> 4;  // the first value in the low nibble
    const uint8_t scale = scales[nvfp4::swizzled_scale_offset<int64_t>(row, i / nvfp4::kBlockSize, padded_scale_cols())];
    return double(nvfp4::e2m1_to_float(code)) * nvfp4::e4m3_to_float(scale);
  }
};

template <typename Traits>
bool run(const Options& options, Result& result) {
  using Out = typename Traits::ElementOut;
  const int m = options.m, n = options.n, k = options.k;
  std::mt19937 rng(2025);
  const Operand a(m, k, rng), b(n, k, rng);
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  std::vector<float> alpha(options.per_column_alpha ? n : 1);
  for (float& value : alpha) value = uniform(rng) / 1024.0f;
  std::vector<Out> bias(options.bias ? n : 0);
  for (Out& value : bias) value = Out(uniform(rng) - 1.0f);

  void *device_a = nullptr, *device_b = nullptr, *device_sfa = nullptr, *device_sfb = nullptr, *workspace = nullptr;
  float* device_alpha = nullptr;
  Out *device_bias = nullptr, *device_out = nullptr;
  int device = 0, multiprocessors = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  CHECK_CUDA(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  CHECK_CUDA(cudaMalloc(&device_a, a.codes.size()));
  CHECK_CUDA(cudaMalloc(&device_sfa, a.scales.size()));
  CHECK_CUDA(cudaMalloc(&device_b, b.codes.size()));
  CHECK_CUDA(cudaMalloc(&device_sfb, b.scales.size()));
  CHECK_CUDA(cudaMalloc(&device_alpha, alpha.size() * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&device_out, size_t(m) * n * sizeof(Out)));
  CHECK_CUDA(cudaMemcpy(device_a, a.codes.data(), a.codes.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_sfa, a.scales.data(), a.scales.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_b, b.codes.data(), b.codes.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_sfb, b.scales.data(), b.scales.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_alpha, alpha.data(), alpha.size() * sizeof(float), cudaMemcpyHostToDevice));
  if (options.bias) {
    CHECK_CUDA(cudaMalloc(&device_bias, bias.size() * sizeof(Out)));
    CHECK_CUDA(cudaMemcpy(device_bias, bias.data(), bias.size() * sizeof(Out), cudaMemcpyHostToDevice));
  }
  CHECK_CUDA(cudaMemset(device_out, 0xFF, size_t(m) * n * sizeof(Out)));  // NaN: unwritten outputs show

  nvfp4::sm1xx::Fp4GemmProblem<Out> problem{m,          n,     k, device_a, device_b, device_sfa, device_sfb,
                                            device_alpha, options.per_column_alpha, device_bias, device_out};
  const auto arguments = nvfp4::sm1xx::make_arguments<Traits>(problem, device, multiprocessors);
  const size_t workspace_size = nvfp4::sm1xx::workspace_bytes<Traits>(arguments);
  if (workspace_size > 0) CHECK_CUDA(cudaMalloc(&workspace, workspace_size));
  auto launch_with = [&](const void* codes_b, const void* scales_b, cudaStream_t stream) {
    problem.b = codes_b, problem.b_scales = scales_b;
    const cutlass::Status status =
        nvfp4::sm1xx::run_fp4_gemm<Traits>(nvfp4::sm1xx::make_arguments<Traits>(problem, device, multiprocessors),
                                           workspace, stream);
    if (status != cutlass::Status::kSuccess) {
      std::fprintf(stderr, "CUTLASS: %s\n", cutlass::cutlassGetStatusString(status));
      return cudaErrorUnknown;
    }
    return cudaGetLastError();
  };
  CHECK_CUDA(launch_with(device_b, device_sfb, nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());

  // The CPU product of the first, middle and last rows, in double.
  std::vector<Out> out(size_t(m) * n);
  CHECK_CUDA(cudaMemcpy(out.data(), device_out, out.size() * sizeof(Out), cudaMemcpyDeviceToHost));
  double error = 0, norm = 0;
  for (const int64_t row : checked_rows(m)) {
    for (int column = 0; column < n; ++column) {
      double sum = 0;
      for (int i = 0; i < k; ++i) sum += a.value(row, i) * b.value(column, i);
      const double expected =
          alpha[options.per_column_alpha ? column : 0] * sum + (options.bias ? double(float(bias[column])) : 0.0);
      const double actual = float(out[size_t(row) * n + column]);
      error += (actual - expected) * (actual - expected);
      norm += expected * expected;
    }
  }
  result.relative_error = std::sqrt(error / std::max(norm, 1e-300));
  result.passed = result.relative_error <= 5e-3;  // NaN (an unwritten output) fails too

  if (options.iterations > 0) {
    RotatingCopies weights;
    if (!weights.make(device_b, b.codes.size(), device_sfb, b.scales.size())) return false;
    auto launch = [&](cudaStream_t stream) {
      const uint8_t* codes = weights.next_codes();
      return launch_with(codes, weights.scales_of(codes), stream);
    };
    if (!time_graph(launch, options.iterations, result.avg_runtime_us)) return false;
  }
  for (void* pointer : {device_a, device_b, device_sfa, device_sfb, static_cast<void*>(device_alpha),
                        static_cast<void*>(device_bias), static_cast<void*>(device_out), workspace}) {
    cudaFree(pointer);
  }
  return true;
}

int main(int argc, char** argv) {
  Options options;
  if (!options.parse(argc, argv) || options.help) {
    options.print_usage();
    return options.help ? 0 : 1;
  }
  if (!gpu_has_major(kProgram, kComputeMajor)) return 0;
  using Out = cutlass::bfloat16_t;
  Result result;
#if NVFP4_BENCH_ARCH == 100
  const bool ran = options.config == "1sm_128x128"   ? run<nvfp4::sm100::Fp4Gemm1Sm128x128<Out>>(options, result)
                   : options.config == "2sm_256x128" ? run<nvfp4::sm100::Fp4Gemm2Sm256x128<Out>>(options, result)
                                                     : run<nvfp4::sm100::Fp4Gemm2Sm256x256<Out>>(options, result);
#else
  const bool ran = options.config == "cooperative_128x128x128"
                       ? run<nvfp4::sm120::Fp4GemmCooperative128x128x128<Out>>(options, result)
                       : run<nvfp4::sm120::Fp4GemmPingpong128x128x256<Out>>(options, result);
#endif
  if (!ran) return 1;
  std::printf("  Configuration: %s\n  Disposition: %s (relative error %.2e on rows across the batch)\n",
              options.config.c_str(), result.passed ? "Passed" : "Failed", result.relative_error);
  std::printf("  Problem Size: M=%d N=%d K=%d, NVFP4 A and B, bf16 out\n", options.m, options.n, options.k);
  if (options.iterations > 0) {
    std::printf("  Avg runtime: %.2f us\n  TFLOP/s: %.1f\n", result.avg_runtime_us,
                2.0 * options.m * options.n * options.k / (result.avg_runtime_us * 1e6));
  }
  return result.passed ? 0 : 1;
}
