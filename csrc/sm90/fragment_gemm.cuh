// How a call of the Hopper GEMM runs (torch-free): the split-K mma.sync kernel for small batches
// (fragment_mm_kernel.cuh), the wgmma kernel from kWgmmaMinBatch rows on
// (fragment_wgmma_kernel.cuh). The op (fragment_mm.cu) and the C++ benchmark both launch here.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#include "sm90/fragment_mm_kernel.cuh"
#include "sm90/fragment_wgmma_kernel.cuh"

namespace nvfp4::sm90 {

// Batches from this many rows on take the wgmma kernel: its 128-row batch tile is full enough.
constexpr int64_t kWgmmaMinBatch = 128;

// How one call is cut up: n8 tiles per warp for the batch, warps per strip block, the K split.
struct FragmentMmPlan {
  bool wgmma;                // the wgmma kernel (batches of kWgmmaMinBatch rows and more), else split-K
  int n_tiles;               // split-K: batch columns per warp / 8: 1, 2, 4 or 8
  int64_t m_blocks;          // grid z
  int64_t strip_blocks;      // grid x
  int64_t splits;            // grid y
  int64_t tiles_per_split;   // K tiles of one split
  int64_t workspace_floats;  // the partial sums [splits, m, padded_n]
};

// Smallest K range a split gets, in tiles of 64: below it the partial sums cost more than the
// parallelism gains.
constexpr int64_t kMinTilesPerSplit = 4;
// Warps the grid aims to keep resident per multiprocessor, for enough loads in flight.
constexpr int64_t kTargetWarpsPerMultiprocessor = 32;

inline FragmentMmPlan plan_fragment_mm(int64_t m, int64_t padded_n, int64_t k_tiles, int multiprocessors) {
  FragmentMmPlan plan{};
  if (m >= kWgmmaMinBatch) {
    plan.wgmma = true;
    return plan;  // no workspace
  }
  plan.n_tiles = m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
  plan.m_blocks = (m + 8 * plan.n_tiles - 1) / (8 * plan.n_tiles);
  plan.strip_blocks = (padded_n / kFragmentRows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const int64_t warps = plan.strip_blocks * kWarpsPerBlock * plan.m_blocks;
  const int64_t wanted_warps = kTargetWarpsPerMultiprocessor * multiprocessors;
  const int64_t splits =
      std::clamp<int64_t>((wanted_warps + warps - 1) / warps, 1, std::max<int64_t>(1, k_tiles / kMinTilesPerSplit));
  plan.tiles_per_split = (k_tiles + splits - 1) / splits;
  plan.splits = (k_tiles + plan.tiles_per_split - 1) / plan.tiles_per_split;
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
  const FragmentMmParams params{x, m, k, static_cast<const uint4*>(weight), static_cast<const uint16_t*>(weight_scale),
                                padded_n / kFragmentRows, k_tiles, plan.tiles_per_split, workspace, padded_n};
  if (plan.wgmma) return launch_fragment_wgmma<T>(params, alpha, alpha_per_column, bias, out, n, stream);
  switch (plan.n_tiles) {
    case 1: launch_fragment_mm_partial<T, 1>(plan, params, stream); break;
    case 2: launch_fragment_mm_partial<T, 2>(plan, params, stream); break;
    case 4: launch_fragment_mm_partial<T, 4>(plan, params, stream); break;
    default: launch_fragment_mm_partial<T, 8>(plan, params, stream); break;
  }
  constexpr int kEpilogueThreads = 256;
  const int64_t grid =
      std::min<int64_t>((m * n + kEpilogueThreads - 1) / kEpilogueThreads, int64_t{8} * multiprocessors);
  fragment_mm_epilogue_kernel<T><<<grid, kEpilogueThreads, 0, stream>>>(workspace, plan.splits, m, n, padded_n, alpha,
                                                                        alpha_per_column, bias, out);
  return cudaGetLastError();
}

}  // namespace nvfp4::sm90
