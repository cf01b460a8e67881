/*! \file
    \brief Hopper GEMM benchmark: the kernels of sm90_scaled_fp4_mm (csrc/sm90/fragment_gemm.cuh),
    verified against a CPU product of the same weight, then timed.

    Builds a random bf16 x [M, K] and a random NVFP4 weight [N, K] directly in the fragment layout
    (random code words, scale bytes 0x00..0x7E), checks out = alpha * x @ (e2m1 * sf)^T on the
    first, middle and last rows against a CPU loop that reads the weight through fragment_code /
    fragment_scale (relative Frobenius error <= 5e-3, DESIGN.md section 3; --no_check skips it, for
    timing sweeps: it takes seconds on the large shapes), then times launches
    replayed as one CUDA graph (CUDA events), rotating over copies of the weight that hold at
    least 200 MB in all, so that the weight comes from DRAM as in a model's forward pass. Reports
    microseconds, weight GB/s and TFLOP/s. Without a CUDA GPU it says so and exits 0; on a GPU
    other than SM90 it says that too.

    Usage:
      bench_fragment_mm [--m=<rows>] [--n=<out features>] [--k=<in features>] [--iterations=<n>]
                        [--batch_rows=<64|128|256>] [--wide] [--splits=<n>] [--split_k_rows=<8|16>]
                        [--no_tail] [--split_sums=<cluster|kernel>] [--no_check]
      bench_fragment_mm --m=1 --n=28672 --k=8192 --iterations=200
*/

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "command_line.h"
#include "cuda_timing.h"
#include "gemm_bench.h"
#include "nvfp4/fragment_layout.h"
#include "sm90/fragment_gemm.cuh"

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Options and results
///////////////////////////////////////////////////////////////////////////////////////////////////

struct Options {
  int64_t m = 1;
  int64_t n = 8192;
  int64_t k = 8192;
  int iterations = 100;
  int batch_rows = 0;  // 0: the plan's choice
  bool wide = false;   // with batch_rows 64: the tile's wide CTA (kWideWarpgroups consumer warpgroups)
  int splits = 0;      // 0: the plan's choice
  int split_k_rows = 0;  // 0: the plan's choice; 8 or 16: the split-K kernel with that many rows a warp
  bool x_global = false;  // the split-K kernel reads x from global memory even where it fits shared memory
  bool x_ring = false;    // the split-K kernel reads x through a ring of tiles that TMA fills
  bool x_order_only = false;  // time only the pass that writes x in step order (a plan that reads x by TMA)
  bool no_tail = false;       // a wgmma plan's last wave as it is, not as a split tail
  std::string split_sums;     // "cluster" or "kernel": where the split-K kernel's splits are summed; "": the plan's
  bool no_check = false;      // time without the CPU check (seconds on the large shapes: for sweeps)
  bool help = false;

  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&](const char* name) { return option_value(arg, name); };
      if (const char* v = value("m")) m = std::atoll(v);
      else if (const char* v = value("n")) n = std::atoll(v);
      else if (const char* v = value("k")) k = std::atoll(v);
      else if (const char* v = value("iterations")) iterations = std::atoi(v);
      else if (const char* v = value("batch_rows")) batch_rows = std::atoi(v);
      else if (const char* v = value("splits")) splits = std::atoi(v);
      else if (const char* v = value("split_k_rows")) split_k_rows = std::atoi(v);
      else if (arg == "--x_global") x_global = true;
      else if (arg == "--x_ring") x_ring = true;
      else if (arg == "--x_order_only") x_order_only = true;
      else if (arg == "--no_tail") no_tail = true;
      else if (arg == "--wide") wide = true;
      else if (arg == "--no_check") no_check = true;
      else if (const char* v = value("split_sums")) split_sums = v;
      else if (arg == "--help") help = true;
      else {
        std::fprintf(stderr, "unknown argument %s\n", argv[i]);
        return false;
      }
    }
    const bool batch_rows_valid = batch_rows == 0 || batch_rows == 64 || batch_rows == 128 || batch_rows == 256;
    const bool wide_valid = !wide || batch_rows == 64;
    const bool split_k_rows_valid = split_k_rows == 0 || ((split_k_rows == 8 || split_k_rows == 16) && batch_rows == 0);
    const bool split_sums_valid = split_sums.empty() || split_sums == "cluster" || split_sums == "kernel";
    return m >= 1 && n >= 1 && k >= 16 && k % 16 == 0 && iterations >= 0 && batch_rows_valid && wide_valid &&
           splits >= 0 && split_k_rows_valid && split_sums_valid;
  }

  void print_usage() const {
    std::printf(
        "bench_fragment_mm: the Hopper NVFP4 GEMM (W4A16, bf16)\n\n"
        "  --m=<int>          batch rows (default %ld)\n"
        "  --n=<int>          output features (default %ld)\n"
        "  --k=<int>          input features, a multiple of 16 (default %ld)\n"
        "  --iterations=<n>   timed launches; 0 only verifies (default %d)\n"
        "  --batch_rows=<B>   force the wgmma kernel with a batch tile of 64, 128 or 256 rows\n"
        "                     (default: the plan's choice)\n"
        "  --wide             with --batch_rows=64: the tile's wide CTA (448 weight rows, not 256)\n"
        "  --splits=<n>       force n K splits (default: the plan's)\n"
        "  --split_k_rows=<R> force the split-K kernel with 8 or 16 batch rows a warp (any M)\n"
        "  --x_global         the split-K kernel reads x from global memory, not shared memory\n"
        "  --x_ring           the split-K kernel reads x through a ring of tiles that TMA fills\n"
        "  --x_order_only     time only the pass that writes x in step order (after the whole call is\n"
        "                     verified; for a plan whose wgmma tile reads x by TMA)\n"
        "  --no_tail          run a wgmma plan's partly filled last wave as it is, not as a split tail\n"
        "  --split_sums=<S>   sum the split-K kernel's splits in a cluster (cluster: at most 8 splits) or\n"
        "                     by a second kernel (kernel); default: the plan's\n"
        "  --no_check         skip the CPU check (it takes seconds on large shapes): timing sweeps\n\n"
        "Example: bench_fragment_mm --m=1 --n=28672 --k=8192 --iterations=200\n",
        long(m), long(n), long(k), iterations);
  }
};

struct Result {
  double relative_error = 0;
  double avg_runtime_us = 0;
  bool checked = false;
  bool passed = false;
};

///////////////////////////////////////////////////////////////////////////////////////////////////
/// Setup, verification and timing
///////////////////////////////////////////////////////////////////////////////////////////////////

bool run(const Options& options, Result& result) {
  const int64_t m = options.m, n = options.n, k = options.k;
  const int64_t padded_n = nvfp4::fragment_padded_rows(n), padded_k = nvfp4::fragment_padded_k(k);
  const int64_t k_tiles = padded_k / nvfp4::kFragmentK;
  std::mt19937 rng(2025);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> byte(0, 255), scale_byte(0, 0x7E);
  std::vector<__nv_bfloat16> x(m * k);
  for (auto& value : x) value = __float2bfloat16(normal(rng));
  std::vector<uint8_t> weight(padded_n * padded_k / 2), weight_scale(padded_n * padded_k / nvfp4::kBlockSize);
  for (auto& b : weight) b = static_cast<uint8_t>(byte(rng));
  for (auto& b : weight_scale) b = static_cast<uint8_t>(scale_byte(rng));
  const float alpha = 1.0f / 1024.0f;

  __nv_bfloat16 *device_x = nullptr, *device_out = nullptr;
  uint8_t *device_weight = nullptr, *device_scale = nullptr;
  float* device_alpha = nullptr;
  void* workspace = nullptr;
  int device = 0, multiprocessors = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  CHECK_CUDA(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  const auto wgmma_plan_of = [&](int batch_rows) {
    const int warpgroups = options.wide ? nvfp4::sm90::kWideWarpgroups : nvfp4::sm90::consumer_warpgroups(batch_rows);
    const auto [plan, cycles] =
        nvfp4::sm90::wgmma_plan(batch_rows, warpgroups, m, padded_n, k_tiles, multiprocessors);
    return nvfp4::sm90::with_tail(plan, cycles, m, padded_n, k_tiles, multiprocessors);
  };
  nvfp4::sm90::FragmentMmPlan plan =
      options.batch_rows > 0 ? wgmma_plan_of(options.batch_rows)
      : options.split_k_rows > 0
          ? nvfp4::sm90::split_k_plan(m, padded_n, k_tiles, multiprocessors, options.split_k_rows / 8)
          : nvfp4::sm90::plan_fragment_mm(m, padded_n, k_tiles, multiprocessors);
  if (options.splits > 0) {
    nvfp4::sm90::set_splits(plan, std::min<int64_t>(options.splits, k_tiles), m, padded_n, k_tiles);
  }
  if (options.no_tail && plan.tail_strip_blocks > 0) nvfp4::sm90::set_splits(plan, 1, m, padded_n, k_tiles);
  if (options.x_global) plan.x_source = nvfp4::sm90::XSource::kGlobal, plan.x_shared_bytes = 0;
  if (options.x_ring) {
    plan.x_source = nvfp4::sm90::XSource::kRing;
    plan.x_shared_bytes = nvfp4::sm90::x_ring_bytes(plan.n_tiles);
  }
  if (plan.batch_rows == 0) {  // where the splits are summed: the plan's rule for the plan as changed, or forced
    nvfp4::sm90::set_split_sums(plan, m, padded_n, multiprocessors);
    if (!options.split_sums.empty()) {
      plan.partial_floats = options.split_sums == "kernel" && plan.splits > 1 ? plan.splits * m * padded_n : 0;
    }
    if (plan.partial_floats == 0 && plan.splits > nvfp4::sm90::kMaxClusterSplits) {
      std::fprintf(stderr, "splits summed in a cluster: at most %ld\n", long(nvfp4::sm90::kMaxClusterSplits));
      return false;
    }
  }
  const bool split_k = plan.batch_rows == 0;
  if (options.x_order_only && plan.x_steps_bytes == 0) {
    std::fprintf(stderr, "--x_order_only: this plan does not read x in step order (batch tile %d)\n", plan.batch_rows);
    return false;
  }
  std::printf("  Plan: %s, batch tile %d, %ld K splits%s%s", split_k ? "split-K mma.sync" : "wgmma",
              split_k ? 8 * plan.n_tiles : plan.batch_rows, long(plan.splits),
              split_k && plan.tile_group == 4 ? ", four tiles ahead" : "",
              !split_k                                       ? ""
              : plan.x_source == nvfp4::sm90::XSource::kShared ? ", x in shared memory"
              : plan.x_source == nvfp4::sm90::XSource::kRing   ? ", x through a TMA ring"
                                                               : "");
  if (!split_k && plan.warpgroups != nvfp4::sm90::consumer_warpgroups(plan.batch_rows)) {
    std::printf(", %d consumer warpgroups a CTA", plan.warpgroups);
  }
  if (split_k && plan.splits > 1) {
    std::printf(plan.partial_floats > 0 ? ", summed by a second kernel" : ", summed in a cluster");
  }
  if (plan.tail_strip_blocks > 0) {
    std::printf(", the last %ld of %ld strip blocks in %ld K splits", long(plan.tail_strip_blocks),
                long(plan.strip_blocks), long(plan.tail_splits));
  }
  std::printf("\n");
  CHECK_CUDA(cudaMalloc(&device_x, x.size() * sizeof(__nv_bfloat16)));
  CHECK_CUDA(cudaMalloc(&device_out, m * n * sizeof(__nv_bfloat16)));
  CHECK_CUDA(cudaMalloc(&device_weight, weight.size()));
  CHECK_CUDA(cudaMalloc(&device_scale, weight_scale.size()));
  CHECK_CUDA(cudaMalloc(&device_alpha, sizeof(float)));
  CHECK_CUDA(cudaMalloc(&workspace, nvfp4::sm90::workspace_bytes(plan)));
  CHECK_CUDA(cudaMemcpy(device_x, x.data(), x.size() * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_weight, weight.data(), weight.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_scale, weight_scale.data(), weight_scale.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(device_alpha, &alpha, sizeof(float), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemset(device_out, 0xFF, m * n * sizeof(__nv_bfloat16)));  // NaN: unwritten outputs show

  // The second stream and events of a plan that overlaps x's ordering with the multiply.
  nvfp4::sm90::OverlapStreams overlap{};
  CHECK_CUDA(cudaStreamCreateWithFlags(&overlap.side, cudaStreamNonBlocking));
  CHECK_CUDA(cudaEventCreateWithFlags(&overlap.forked, cudaEventDisableTiming));
  for (cudaEvent_t& event : overlap.ordered) CHECK_CUDA(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  std::printf("  Chunks: %ld\n", long(plan.chunks));
  auto launch_with = [&](const uint8_t* codes, const uint8_t* scales, cudaStream_t stream) {
    return nvfp4::sm90::launch_fragment_mm<__nv_bfloat16>(plan, device_x, m, k, /*x_global_scale=*/nullptr,
                                                          /*x_after_rounding_pass=*/false, codes,
                                                          scales, padded_n, k_tiles, workspace, device_alpha, false,
                                                          nullptr, device_out, n, multiprocessors, &overlap, stream);
  };
  CHECK_CUDA(launch_with(device_weight, device_scale, nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());

  // The CPU product of a few rows across the batch (first, middle, last: the first and the last
  // chunk of an overlapped plan among them), in double.
  const std::vector<int64_t> rows = options.no_check ? std::vector<int64_t>{} : checked_rows(m);
  std::vector<__nv_bfloat16> out(m * n);
  CHECK_CUDA(cudaMemcpy(out.data(), device_out, out.size() * sizeof(__nv_bfloat16), cudaMemcpyDeviceToHost));
  std::vector<double> decoded(k);
  double error = 0, norm = 0;
  for (int64_t column = 0; column < (rows.empty() ? 0 : n); ++column) {
    for (int64_t i = 0; i < k; ++i) {
      decoded[i] = double(nvfp4::e2m1_to_float(nvfp4::fragment_code(weight.data(), k_tiles, column, i))) *
                   nvfp4::e4m3_to_float(nvfp4::fragment_scale(weight_scale.data(), k_tiles, column, i));
    }
    for (const int64_t row : rows) {
      double sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += double(__bfloat162float(x[row * k + i])) * decoded[i];
      const double expected = alpha * sum, actual = __bfloat162float(out[row * n + column]);
      error += (actual - expected) * (actual - expected);
      norm += expected * expected;
    }
  }
  result.relative_error = std::sqrt(error / std::max(norm, 1e-300));
  result.checked = !rows.empty();
  result.passed = result.relative_error <= 5e-3;  // NaN (an unwritten output) fails too

  if (options.iterations > 0) {
    RotatingCopies weights;
    if (!weights.make(device_weight, weight.size(), device_scale, weight_scale.size())) return false;
    auto launch = [&](cudaStream_t stream) {
      if (options.x_order_only) {
        return nvfp4::sm90::launch_x_step_order(device_x, m, nvfp4::sm90::x_steps_rows(m, plan.batch_rows), k,
                                                k_tiles, workspace, multiprocessors, stream);
      }
      const uint8_t* codes = weights.next_codes();
      return launch_with(codes, weights.scales_of(codes), stream);
    };
    if (!time_graph(launch, options.iterations, result.avg_runtime_us)) return false;
  }
  for (void* pointer : {static_cast<void*>(device_x), static_cast<void*>(device_out), static_cast<void*>(device_weight),
                        static_cast<void*>(device_scale), static_cast<void*>(device_alpha),
                        workspace}) {
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
  if (!gpu_has_major("bench_fragment_mm", 9)) return 0;
  Result result;
  if (!run(options, result)) return 1;
  if (result.checked) {
    std::printf("  Disposition: %s (relative error %.2e on rows across the batch)\n", result.passed ? "Passed" : "Failed",
                result.relative_error);
  } else {
    std::printf("  Disposition: Not checked (--no_check)\n");
  }
  std::printf("  Problem Size: M=%ld N=%ld K=%ld, bf16 x, NVFP4 weight\n", long(options.m), long(options.n),
              long(options.k));
  if (options.iterations > 0 && options.x_order_only) {
    const double x_bytes = 2.0 * 2.0 * options.m * options.k;  // read and written
    std::printf("  Avg runtime of the x ordering pass alone: %.2f us (%.0f GB/s)\n", result.avg_runtime_us,
                x_bytes / (result.avg_runtime_us * 1e3));
  } else if (options.iterations > 0) {
    const double weight_bytes = options.n * options.k * (0.5 + 1.0 / 16);
    std::printf("  Avg runtime: %.2f us\n  Weight bandwidth: %.0f GB/s\n  TFLOP/s: %.1f\n", result.avg_runtime_us,
                weight_bytes / (result.avg_runtime_us * 1e3),
                2.0 * options.m * options.n * options.k / (result.avg_runtime_us * 1e6));
  }
  return result.passed ? 0 : 1;
}
