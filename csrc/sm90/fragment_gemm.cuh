// How a call of the Hopper GEMM runs (torch-free): the kernels of a plan (gemm_plan.cuh) launched
// on a stream: the split-K mma.sync kernel for batches of up to kMaxMmaSyncBatch rows
// (fragment_mm_kernel.cuh); above, the wgmma kernel (fragment_wgmma_kernel.cuh), preceded for
// 128- and 256-row batch tiles by a copy of x in step order (x_step_order_kernel.cuh). The op
// (fragment_mm.cu) and the C++ benchmark both launch here.
#pragma once

#include <cuda_runtime.h>  // cudaLaunchKernelEx

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "sm90/fragment_mm_kernel.cuh"
#include "sm90/fragment_wgmma_kernel.cuh"
#include "sm90/gemm_plan.cuh"
#include "sm90/x_step_order_kernel.cuh"

namespace nvfp4::sm90 {

// The split-K kernel, reading x where the plan says, its splits of a tile as one cluster unless
// their sums go to params.partial for the second kernel (split_sums_by_kernel).
template <typename T, int kNTiles, int kTileGroup>
cudaError_t launch_fragment_mm_split(const FragmentMmPlan& plan, const FragmentMmParams& params,
                                     const FragmentMmEpilogue<T>& epilogue, cudaStream_t stream) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(plan.strip_blocks), static_cast<unsigned>(plan.splits),
                        static_cast<unsigned>(plan.m_blocks));
  config.blockDim = dim3(kWarpsPerBlock * 32);
  config.dynamicSmemBytes =
      static_cast<size_t>(plan.x_shared_bytes + (params.x_global_scale != nullptr ? kXRoundingTableBytes : 0));
  config.stream = stream;
  cudaLaunchAttribute attributes[2] = {{}, cuda::programmatic_dependent_launch()};
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = static_cast<unsigned>(plan.splits);
  attributes[0].val.clusterDim.z = 1;
  config.attrs = attributes;
  config.numAttrs = 2;
  if (params.partial != nullptr) config.attrs = attributes + 1, config.numAttrs = 1;  // no cluster
  CUtensorMap x_map{};
  if (plan.x_source == XSource::kRing) {
    if (const cudaError_t status = make_x_tensor_map<T>(&x_map, static_cast<const T*>(params.x), params.m, params.k,
                                                        params.k * int64_t{sizeof(T)}, 8 * kNTiles);
        status != cudaSuccess) {
      return status;
    }
    return cudaLaunchKernelEx(&config, fragment_mm_split_kernel<T, kNTiles, kTileGroup, XSource::kRing>, x_map,
                              params, epilogue);
  }
  if constexpr (kNTiles == 1) {
    if (plan.x_source == XSource::kShared) {
      return cudaLaunchKernelEx(&config, fragment_mm_split_kernel<T, kNTiles, kTileGroup, XSource::kShared>, x_map,
                                params, epilogue);
    }
  }
  return cudaLaunchKernelEx(&config, fragment_mm_split_kernel<T, kNTiles, kTileGroup, XSource::kGlobal>, x_map,
                            params, epilogue);
}

// The strips of the weight from `first_strip` on, `strips` of them, as a call of their own: their
// code words and scales (the fragment layout keeps a strip's tiles together: 32 lanes' words a
// tile), and as many padded columns of partial sums.
inline FragmentMmParams strips_of(const FragmentMmParams& params, int64_t first_strip, int64_t strips) {
  FragmentMmParams part = params;
  part.codes = params.codes + first_strip * params.k_tiles * 32;
  part.scales = params.scales + first_strip * params.k_tiles * 32;
  part.strips = strips;
  part.padded_n = strips * kFragmentRows;
  return part;
}

// The results of out's columns from `first_column` on, as a call of their own: out's rows keep
// their stride.
template <typename T>
FragmentMmEpilogue<T> columns_from(const FragmentMmEpilogue<T>& epilogue, int64_t first_column) {
  FragmentMmEpilogue<T> part = epilogue;
  part.alpha = epilogue.alpha + (epilogue.alpha_per_column ? first_column : 0);
  part.bias = epilogue.bias != nullptr ? epilogue.bias + first_column : nullptr;
  part.out = epilogue.out + first_column;
  part.n = epilogue.n - first_column;
  return part;
}

// The multiply of a wgmma plan, reading x in step order from `x_steps` (x_by_tma) or x itself:
// one launch, or with a tail (set_tail) two: the strip blocks before it whole, then the tail's,
// split, its sums to params.partial.
template <typename T, int kBatchRows, int kWarpgroups>
cudaError_t launch_wgmma_parts(const T* x_steps, const FragmentMmPlan& plan, const FragmentMmParams& params,
                               const FragmentMmEpilogue<T>& epilogue, cudaStream_t stream) {
  if (plan.tail_strip_blocks == 0) {
    return launch_fragment_wgmma<T, kBatchRows, kWarpgroups>(x_steps, params, plan.splits, epilogue, stream);
  }
  if (plan.splits != 1) return cudaErrorInvalidValue;
  const int64_t head_strips = head_columns(plan) / kFragmentRows;
  FragmentMmParams head = strips_of(params, 0, head_strips);
  head.partial = nullptr;
  if (const cudaError_t status = launch_fragment_wgmma<T, kBatchRows, kWarpgroups>(x_steps, head, 1, epilogue, stream);
      status != cudaSuccess) {
    return status;
  }
  FragmentMmParams tail = strips_of(params, head_strips, params.strips - head_strips);
  tail.k_tiles_per_split = plan.tail_tiles_per_split;
  return launch_fragment_wgmma<T, kBatchRows, kWarpgroups>(x_steps, tail, plan.tail_splits,
                                                           columns_from(epilogue, head_columns(plan)), stream);
}

// What a plan with chunks > 1 needs besides `stream`, made by the caller: a second stream that
// orders x while `stream` multiplies, an event to fork it from `stream` and one a chunk to join.
struct OverlapStreams {
  cudaStream_t side;
  cudaEvent_t forked;
  cudaEvent_t ordered[kMaxChunks];
};

// A wgmma tile that reads x by TMA (x_by_tma) over x in step order: the ordering pass, then the
// multiply; with plan.chunks > 1 the passes of all chunks run on overlap.side, each chunk's
// multiply on `stream` as soon as its rows are ordered, so that ordering chunk c + 1 runs during
// chunk c's multiply.
template <typename T, int kBatchRows>
cudaError_t launch_ordered_wgmma(const FragmentMmPlan& plan, const FragmentMmParams& params,
                                 const FragmentMmEpilogue<T>& epilogue, void* workspace, int multiprocessors,
                                 const OverlapStreams* overlap, cudaStream_t stream) {
  const T* x = static_cast<const T*>(params.x);
  T* x_steps = static_cast<T*>(workspace);
  const int64_t row_values = params.k_tiles * kFragmentK;  // of x_steps
  if (plan.chunks == 1) {
    const cudaError_t ordered =
        launch_x_step_order(x, params.m, x_steps_rows(params.m, kBatchRows), params.k, params.k_tiles, x_steps,
                            multiprocessors, stream);
    if (ordered != cudaSuccess) return ordered;
    return launch_wgmma_parts<T, kBatchRows, consumer_warpgroups(kBatchRows)>(x_steps, plan, params, epilogue, stream);
  }
  if (overlap == nullptr || plan.chunks > kMaxChunks || plan.splits != 1 || plan.tail_strip_blocks != 0) {
    return cudaErrorInvalidValue;
  }
  const int64_t chunk_rows = chunk_batch_blocks(plan.m_blocks, plan.chunks) * kBatchRows;
  const auto rows_of = [&](int64_t c) {
    const int64_t first = c * chunk_rows;
    return std::pair<int64_t, int64_t>{first, std::min(params.m, first + chunk_rows) - first};
  };
  cudaError_t status = cudaEventRecord(overlap->forked, stream);
  if (status == cudaSuccess) status = cudaStreamWaitEvent(overlap->side, overlap->forked, 0);
  for (int64_t c = 0; c < plan.chunks && status == cudaSuccess; ++c) {
    const auto [first, rows] = rows_of(c);
    status = launch_x_step_order(x + first * params.k, rows, x_steps_rows(rows, kBatchRows), params.k,
                                 params.k_tiles, x_steps + first * row_values, multiprocessors, overlap->side);
    if (status == cudaSuccess) status = cudaEventRecord(overlap->ordered[c], overlap->side);
  }
  for (int64_t c = 0; c < plan.chunks && status == cudaSuccess; ++c) {
    const auto [first, rows] = rows_of(c);
    status = cudaStreamWaitEvent(stream, overlap->ordered[c], 0);
    if (status != cudaSuccess) break;
    FragmentMmParams chunk = params;
    chunk.x = x + first * params.k;
    chunk.m = rows;
    FragmentMmEpilogue<T> chunk_epilogue = epilogue;
    chunk_epilogue.out = epilogue.out + first * epilogue.out_stride;
    status = launch_fragment_wgmma<T, kBatchRows, consumer_warpgroups(kBatchRows)>(x_steps + first * row_values, chunk,
                                                                                    1, chunk_epilogue, stream);
  }
  return status;
}

// One call on `stream`: x [m, k] (T, 16-byte aligned; `x_after_rounding_pass` where the kernel
// before this call writes it, W4A4's nvfp4_qdq), the prepared weight of padded_n rows,
// `workspace` of workspace_bytes(plan) bytes (256-byte aligned), alpha (one value or [n]), bias
// ([n] or null), out [m, n]; `overlap` for a plan with chunks > 1, else unused. Returns the launch
// status.
template <typename T>
cudaError_t launch_fragment_mm(const FragmentMmPlan& plan, const T* x, int64_t m, int64_t k,
                               const float* x_global_scale, bool x_after_rounding_pass, const void* weight,
                               const void* weight_scale, int64_t padded_n, int64_t k_tiles, void* workspace,
                               const float* alpha, bool alpha_per_column, const T* bias, T* out, int64_t n,
                               int multiprocessors, const OverlapStreams* overlap, cudaStream_t stream) {
  if (x_global_scale != nullptr && !rounds_x(plan, m)) return cudaErrorInvalidValue;
  const FragmentMmEpilogue<T> epilogue{alpha, alpha_per_column, bias, out, n, n};
  const bool sums_left_to_add = plan.partial_floats > 0;  // for fragment_mm_epilogue_kernel, after the multiply
  float* partial = reinterpret_cast<float*>(static_cast<uint8_t*>(workspace) + partial_sums_offset(plan));
  const FragmentMmParams params{x, m, k, static_cast<const uint4*>(weight), static_cast<const uint16_t*>(weight_scale),
                                padded_n / kFragmentRows, k_tiles, plan.tiles_per_split,
                                sums_left_to_add ? partial : nullptr, padded_n, x_global_scale,
                                x_after_rounding_pass};
  cudaError_t status = cudaSuccess;
  const auto launch_wgmma = [&](auto batch_rows) {
    constexpr int kBatchRows = decltype(batch_rows)::value;
    constexpr int kWarpgroups = consumer_warpgroups(kBatchRows);
    if constexpr (kXByTma<kBatchRows>) {
      if (plan.warpgroups != kWarpgroups) return cudaErrorInvalidValue;  // no such kernel
      return launch_ordered_wgmma<T, kBatchRows>(plan, params, epilogue, workspace, multiprocessors, overlap, stream);
    } else {
      if (plan.warpgroups == kWideWarpgroups) {
        return launch_wgmma_parts<T, kBatchRows, kWideWarpgroups>(nullptr, plan, params, epilogue, stream);
      }
      if (plan.warpgroups != kWarpgroups) return cudaErrorInvalidValue;  // no such kernel
      return launch_wgmma_parts<T, kBatchRows, kWarpgroups>(nullptr, plan, params, epilogue, stream);
    }
  };
  switch (plan.batch_rows) {
    case 64: status = launch_wgmma(std::integral_constant<int, 64>{}); break;
    case 128: status = launch_wgmma(std::integral_constant<int, 128>{}); break;
    case 256: status = launch_wgmma(std::integral_constant<int, 256>{}); break;
    default:
      status = plan.n_tiles == 2      ? launch_fragment_mm_split<T, 2, 2>(plan, params, epilogue, stream)
               : plan.tile_group == 4 ? launch_fragment_mm_split<T, 1, 4>(plan, params, epilogue, stream)
                                      : launch_fragment_mm_split<T, 1, 2>(plan, params, epilogue, stream);
  }
  if (status != cudaSuccess || !sums_left_to_add) return status;
  // The split sums: of the whole call, or of its tail's columns.
  const bool tail = plan.tail_strip_blocks > 0;
  const int64_t first_column = tail ? head_columns(plan) : 0;
  const FragmentMmEpilogue<T> summed = columns_from(epilogue, first_column);
  constexpr int kEpilogueThreads = 256;
  const int64_t grid = std::min<int64_t>(
      (m * ((summed.n + kReducedColumns - 1) / kReducedColumns) + kEpilogueThreads - 1) / kEpilogueThreads,
      int64_t{8} * multiprocessors);
  return cuda::launch_dependent(fragment_mm_epilogue_kernel<T>, dim3(static_cast<unsigned>(grid)),
                                dim3(kEpilogueThreads), 0, stream, static_cast<const float*>(partial),
                                tail ? plan.tail_splits : plan.splits, m, padded_n - first_column, summed);
}

}  // namespace nvfp4::sm90
