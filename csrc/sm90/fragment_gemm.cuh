// How a call of the Hopper GEMM runs (torch-free): the split-K mma.sync kernel for batches of up
// to kMaxMmaSyncBatch rows (fragment_mm_kernel.cuh), the wgmma kernel above (fragment_wgmma_kernel.cuh)
// with the batch tile and K split a cost estimate picks. The op (fragment_mm.cu) and the C++ benchmark both launch here.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "sm90/fragment_mm_kernel.cuh"
#include "sm90/fragment_wgmma_kernel.cuh"

namespace nvfp4::sm90 {

// Batches up to this many rows take the split-K mma.sync kernel (memory-bound decode); larger
// ones the wgmma kernel, whose tensor-core work per decoded weight grows with the batch tile.
constexpr int64_t kMaxMmaSyncBatch = 16;

// How one call is cut up.
struct FragmentMmPlan {
  int batch_rows;            // wgmma: batch rows per CTA (64, 128 or 256); 0: the split-K mma.sync kernel
  int n_tiles;               // mma.sync: batch columns per warp / 8: 1 or 2
  int64_t m_blocks;          // grid z
  int64_t strip_blocks;      // grid x
  int64_t splits;            // grid y
  int64_t tiles_per_split;   // K tiles of one split
  int64_t workspace_floats;  // the partial sums [splits, m, padded_n] when splits > 1 (mma.sync: always)
};

// Smallest K range a split gets, in tiles of 64: below it the partial sums cost more than the
// parallelism gains.
constexpr int64_t kMinTilesPerSplit = 4;
// Warps the mma.sync grid aims to keep resident per multiprocessor, for enough loads in flight.
constexpr int64_t kTargetWarpsPerMultiprocessor = 32;

// The split count that gives `blocks` CTAs (or warps) about `wanted` in all, within what K allows.
inline int64_t splits_for(int64_t blocks, int64_t wanted, int64_t k_tiles) {
  return std::clamp<int64_t>((wanted + blocks - 1) / blocks, 1, std::max<int64_t>(1, k_tiles / kMinTilesPerSplit));
}

inline void set_splits(FragmentMmPlan& plan, int64_t splits, int64_t k_tiles) {
  plan.tiles_per_split = (k_tiles + splits - 1) / splits;
  plan.splits = (k_tiles + plan.tiles_per_split - 1) / plan.tiles_per_split;
}

// Cycles a multiprocessor spends on one 64-wide K tile of a wgmma CTA with `batch_rows` batch rows:
// the tensor cores' time (m64nBk16 takes B / 4 cycles per sub-partition, four steps for each of
// two warpgroups), or, for the narrow tile, the issue of the decode and the copies.
constexpr int64_t wgmma_tile_cycles(int batch_rows) { return std::max<int64_t>(2 * 4 * batch_rows / 4, 290); }

// The wgmma plan for one batch tile: splits that fill the machine, and its estimated cycles
// (whole waves of one CTA per multiprocessor, plus the partial sums' traffic when split).
inline std::pair<FragmentMmPlan, int64_t> wgmma_plan(int batch_rows, int64_t m, int64_t padded_n, int64_t k_tiles,
                                                     int multiprocessors) {
  FragmentMmPlan plan{};
  plan.batch_rows = batch_rows;
  plan.m_blocks = (m + batch_rows - 1) / batch_rows;
  plan.strip_blocks = (padded_n + kWgmmaWeightRows - 1) / kWgmmaWeightRows;
  const int64_t blocks = plan.m_blocks * plan.strip_blocks;
  set_splits(plan, blocks >= multiprocessors ? 1 : splits_for(blocks, multiprocessors, k_tiles), k_tiles);
  const int64_t waves = (blocks * plan.splits + multiprocessors - 1) / multiprocessors;
  int64_t cycles = waves * plan.tiles_per_split * wgmma_tile_cycles(batch_rows);
  if (plan.splits > 1) {
    plan.workspace_floats = plan.splits * m * padded_n;
    constexpr int64_t kBytesPerCycle = 1500;  // ~2.5 TB/s at ~1.7 GHz, for the whole GPU
    constexpr int64_t kLaunchCycles = 3000;   // the epilogue kernel's launch and tail
    cycles += 8 * plan.workspace_floats / kBytesPerCycle + kLaunchCycles;
  }
  return {plan, cycles};
}

inline FragmentMmPlan plan_fragment_mm(int64_t m, int64_t padded_n, int64_t k_tiles, int multiprocessors) {
  if (m > kMaxMmaSyncBatch) {
    std::pair<FragmentMmPlan, int64_t> best = wgmma_plan(64, m, padded_n, k_tiles, multiprocessors);
    for (const int batch_rows : {128, 256}) {
      const auto candidate = wgmma_plan(batch_rows, m, padded_n, k_tiles, multiprocessors);
      if (candidate.second < best.second) best = candidate;
    }
    return best.first;
  }
  FragmentMmPlan plan{};
  plan.n_tiles = m <= 8 ? 1 : 2;
  plan.m_blocks = (m + 8 * plan.n_tiles - 1) / (8 * plan.n_tiles);
  plan.strip_blocks = (padded_n / kFragmentRows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const int64_t warps = plan.strip_blocks * kWarpsPerBlock * plan.m_blocks;
  set_splits(plan, splits_for(warps, kTargetWarpsPerMultiprocessor * multiprocessors, k_tiles), k_tiles);
  plan.workspace_floats = plan.splits * m * padded_n;
  return plan;
}

template <typename T, int kNTiles>
void launch_fragment_mm_partial(const FragmentMmPlan& plan, const FragmentMmParams& params, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.strip_blocks), static_cast<unsigned>(plan.splits),
                  static_cast<unsigned>(plan.m_blocks));
  fragment_mm_partial_kernel<T, kNTiles><<<grid, kWarpsPerBlock * 32, 0, stream>>>(params);
}

// Both kernels of one call on `stream`: x [m, k] (T), the prepared weight of padded_n rows,
// `workspace` of plan.workspace_floats floats, alpha (one value or [n]), bias ([n] or null),
// out [m, n]. Returns the launch status.
template <typename T>
cudaError_t launch_fragment_mm(const FragmentMmPlan& plan, const T* x, int64_t m, int64_t k, const void* weight,
                               const void* weight_scale, int64_t padded_n, int64_t k_tiles, float* workspace,
                               const float* alpha, bool alpha_per_column, const T* bias, T* out, int64_t n,
                               int multiprocessors, cudaStream_t stream) {
  const bool split = plan.batch_rows == 0 || plan.splits > 1;
  const FragmentMmParams params{x, m, k, static_cast<const uint4*>(weight), static_cast<const uint16_t*>(weight_scale),
                                padded_n / kFragmentRows, k_tiles, plan.tiles_per_split, split ? workspace : nullptr,
                                padded_n};
  cudaError_t status = cudaSuccess;
  switch (plan.batch_rows) {
    case 64: status = launch_fragment_wgmma<T, 64>(params, plan.splits, alpha, alpha_per_column, bias, out, n, stream); break;
    case 128: status = launch_fragment_wgmma<T, 128>(params, plan.splits, alpha, alpha_per_column, bias, out, n, stream); break;
    case 256: status = launch_fragment_wgmma<T, 256>(params, plan.splits, alpha, alpha_per_column, bias, out, n, stream); break;
    default:
      if (plan.n_tiles == 1) {
        launch_fragment_mm_partial<T, 1>(plan, params, stream);
      } else {
        launch_fragment_mm_partial<T, 2>(plan, params, stream);
      }
      status = cudaGetLastError();
  }
  if (status != cudaSuccess || !split) return status;
  constexpr int kEpilogueThreads = 256;
  const int64_t grid =
      std::min<int64_t>((m * n + kEpilogueThreads - 1) / kEpilogueThreads, int64_t{8} * multiprocessors);
  fragment_mm_epilogue_kernel<T><<<grid, kEpilogueThreads, 0, stream>>>(workspace, plan.splits, m, n, padded_n, alpha,
                                                                        alpha_per_column, bias, out);
  return cudaGetLastError();
}

}  // namespace nvfp4::sm90
