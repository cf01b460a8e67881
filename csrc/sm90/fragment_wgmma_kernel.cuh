// The Hopper NVFP4 GEMM for larger batches: wgmma with the weight as operand A from registers
// (torch-free). Computes out^T = W x^T for a tile of 64 * kWarpgroups weight rows by kBatchRows
// (64, 128 or 256) batch rows per CTA, over all of K or one split of it, with kWarpgroups consumer
// warpgroups (two; four or seven for 64 batch rows: x_stages.cuh) and a producer:
//
// - the consumers, 64 weight rows each (four 16-row strips, one a warp), copy their strips' tiles
//   a few tiles ahead into shared memory (weight_ring.cuh) and decode the fragment words
//   (fragment_layout.h) into the A registers of wgmma m64n<kBatchRows>k16, one k16 step while the
//   previous step multiplies (two register sets, wgmma.wait_group 1);
// - the producer copies each 64-wide K tile of x into a ring of shared-memory stages, by TMA for
//   128- and 256-row batch tiles and through a staging ring for 64-row ones (x_stages.cuh: the
//   ring, its hand-over barriers and both producers).
//
// Epilogue: alpha, bias, one rounding, through an output tile in shared memory to out [M, N]
// (store_through_shared); or, when K is split, the raw fp32 sums to the partial buffer for
// fragment_mm_epilogue_kernel.
#pragma once

#include <cuda.h>  // CUtensorMap
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <cute/arch/mma_sm90_gmma.hpp>
#include <type_traits>
#include <utility>

#include "cuda/dependent_launch.cuh"
#include "sm90/fragment_mm_kernel.cuh"
#include "sm90/unrolled.cuh"
#include "sm90/weight_ring.cuh"
#include "sm90/x_stages.cuh"

namespace nvfp4::sm90 {

// Each consumer warp's weight ring (weight_ring.cuh): four tiles, three in flight. A power of two
// keeps the slot index a mask; 4 and 8 ran alike at every batch tile, 6 and 12 slower
// (benchmarks/NOTES.md, v17).
using ConsumerWeightRing = WeightRing<4>;

// Dynamic shared memory: the x ring (x_stages.cuh), then the consumer warps' weight rings from the
// next 128-byte boundary, so that each quarter of a warp's 16-byte copies fills one 128-byte line
// of shared memory. Right after the x ring's barriers (32 bytes past a line) every quarter
// straddled two lines: ncu, 64-row tile, twice the ideal shared-memory wavefronts on those copies.
template <int kBatchRows>
constexpr int kWeightRingsOffset = (kXRingBytes<kBatchRows> + 127) / 128 * 128;
template <int kBatchRows, int kWarpgroups>
constexpr int kWeightRingsEnd =
    kWeightRingsOffset<kBatchRows> + kConsumerThreads<kWarpgroups> / 32 * ConsumerWeightRing::kWarpBytes;
// The 64-row tile's staging ring (x_stages.cuh) follows, aligned for TMA's swizzle.
template <int kBatchRows, int kWarpgroups>
constexpr int kXStagingOffset =
    (kWeightRingsEnd<kBatchRows, kWarpgroups> + kTmaSlotAlignment - 1) / kTmaSlotAlignment * kTmaSlotAlignment;
template <int kBatchRows, int kWarpgroups>
constexpr int kWgmmaSharedBytes = kXByTma<kBatchRows>
                                      ? kWeightRingsEnd<kBatchRows, kWarpgroups>
                                      : kXStagingOffset<kBatchRows, kWarpgroups> + kXStagingBytes<kBatchRows>;
static_assert(ConsumerWeightRing::kWarpBytes % 128 == 0 && kWeightSlotBytes % 128 == 0,
              "every warp's ring and slot starts on a 128-byte line");

// The descriptor of one k16 step of an x stage (PTX ISA "Matrix Descriptor"): K-major with the
// 128-byte swizzle, 8-row groups 1024 bytes apart (stride byte offset), the leading byte offset
// unused (1) because a step's 32 bytes lie inside one swizzle row; the stage is 1024-byte aligned
// (base offset 0) and the step starts 32 bytes further per step, as the swizzle expects.
__device__ __forceinline__ uint64_t x_step_descriptor(uint32_t stage_address, int step) {
  constexpr uint64_t kSwizzle128 = uint64_t{1} << 62;
  constexpr uint64_t kStrideBytes = uint64_t{8 * kXRowBytes >> 4} << 32;
  constexpr uint64_t kLeadingBytes = uint64_t{1} << 16;
  return kSwizzle128 | kStrideBytes | kLeadingBytes | (((stage_address + 32u * step) >> 4) & 0x3FFFu);
}

// acc += A (registers) * B (descriptor) for m64 n<kBatchRows> k16, through CUTLASS's wrappers of
// the instruction (A and B K-major, unscaled).
template <typename T, int kBatchRows>
struct Wgmma;
#define NVFP4_WGMMA_OP(N, TYPE, NAME) \
  template <>                          \
  struct Wgmma<TYPE, N> {              \
    using Op = cute::SM90::GMMA::NAME<cute::SM90::GMMA::Major::K, cute::SM90::GMMA::Major::K>; \
  };
NVFP4_WGMMA_OP(64, __nv_bfloat16, MMA_64x64x16_F32BF16BF16_RS)
NVFP4_WGMMA_OP(128, __nv_bfloat16, MMA_64x128x16_F32BF16BF16_RS)
NVFP4_WGMMA_OP(256, __nv_bfloat16, MMA_64x256x16_F32BF16BF16_RS)
NVFP4_WGMMA_OP(64, __half, MMA_64x64x16_F32F16F16_RS)
NVFP4_WGMMA_OP(128, __half, MMA_64x128x16_F32F16F16_RS)
NVFP4_WGMMA_OP(256, __half, MMA_64x256x16_F32F16F16_RS)
#undef NVFP4_WGMMA_OP

template <typename T, int kBatchRows, size_t... I>
__device__ __forceinline__ void wgmma_step(float (&acc)[kBatchRows / 2], const uint32_t (&a)[4], uint64_t descriptor,
                                           std::index_sequence<I...>) {
  Wgmma<T, kBatchRows>::Op::fma(a[0], a[1], a[2], a[3], descriptor, acc[I]...);
}

// The epilogue of a CTA whose sums are final: each consumer warp writes its results, alpha and
// bias applied and rounded to T, into an output tile in shared memory (the x stages, free once
// every consumer's last wgmma is done), then the consumers copy the tile out row by row in 16-byte
// pieces: out's rows of the CTA are 256 contiguous bytes each. Stored directly, a thread's
// kBatchRows / 2 results would take as many 2-byte stores, four rows of 16 bytes a warp instruction.
//
// Tile row r (a batch row) at r * kOutputTileRowBytes: a 16-byte pad a row puts the eight rows of
// a stored matrix (below) in different banks.
template <int kWarpgroups>
constexpr int kOutputTileRowBytes = kWarpgroups * kWarpgroupWeightRows * 2 + 16;
// The tile lies over the x stages and, past them, over the stages' full mbarriers (used only with
// TMA, by then all complete) and the start of the weight rings (all read).
template <int kBatchRows, int kWarpgroups>
constexpr bool kOutputTileFits =
    kBatchRows * kOutputTileRowBytes<kWarpgroups> <= kWgmmaSharedBytes<kBatchRows, kWarpgroups>;

template <typename T, int kBatchRows, int kWarpgroups>
__device__ __forceinline__ void store_through_shared(const float (&acc)[kBatchRows / 2],
                                                     const FragmentMmEpilogue<T>& epilogue, int64_t rows_left,
                                                     int64_t column_base, int64_t m_base, uint32_t tile_address,
                                                     uint8_t* tile) {
  static_assert(kOutputTileFits<kBatchRows, kWarpgroups>, "the tile fits the kernel's shared memory");
  static_assert(kBatchRows % 16 == 0, "four 8 x 8 matrices a store");
  constexpr int kRowBytes = kOutputTileRowBytes<kWarpgroups>;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, group = lane / 4;
  using Column = typename FragmentMmEpilogue<T>::Column;
  Column terms[2];  // weight rows g and g + 8 of the warp's strip: two output columns
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t column = column_base + warp * kFragmentRows + group + 8 * h;
    terms[h] = column < epilogue.n ? epilogue.column_of(column) : Column{0.0f, 0.0f};
  }
  // The accumulators of batch rows 8j .. 8j + 7 at weight rows 8h .. 8h + 7 of the strip form an
  // 8 x 8 matrix in mma's fragment layout (lane 4g + t: row g, columns 2t and 2t + 1, that is
  // acc[4j + 2h] and acc[4j + 2h + 1]); stmatrix .trans stores it transposed, each of its rows a
  // batch row's 8 output columns (16 bytes, at the address lane 8q + i gives for row i of matrix
  // q). Four matrices a store, (j, h) = (2jj, 0), (2jj, 1), (2jj + 1, 0), (2jj + 1, 1): a thread's
  // kBatchRows / 2 results in kBatchRows / 16 stores instead of as many 2-byte ones.
  const int matrix = lane / 8, matrix_row = lane % 8;
  const uint32_t lane_address = tile_address + (8 * (matrix / 2) + matrix_row) * kRowBytes +
                                2 * (warp * kFragmentRows + 8 * (matrix % 2));
  // Every consumer's wgmmas have read their last stage before any thread overwrites one.
  barrier_sync<kConsumerThreads<kWarpgroups>>(kOutputBarrier);
#pragma unroll
  for (int jj = 0; jj < kBatchRows / 16; ++jj) {
    uint32_t pairs[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int j = 2 * jj + q / 2, h = q % 2;
      pairs[q] = epilogue.finish_pair(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1], terms[h]);
    }
    asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(
                     lane_address + jj * 16 * kRowBytes),
                 "r"(pairs[0]), "r"(pairs[1]), "r"(pairs[2]), "r"(pairs[3])
                 : "memory");
  }
  barrier_sync<kConsumerThreads<kWarpgroups>>(kOutputBarrier);

  // Copy-out: thread i takes 16-byte piece i % 16 (8 columns) of rows i / 16 + 16k.
  constexpr int kPieces = kWarpgroups * kWarpgroupWeightRows * 2 / 16;
  const int piece = threadIdx.x % kPieces;
  const int64_t column = column_base + 8 * piece;
  const bool whole = epilogue.stores_eights() && column + 8 <= epilogue.n;
  const int rows = static_cast<int>(rows_left < kBatchRows ? rows_left : kBatchRows);
  for (int tile_row = threadIdx.x / kPieces; tile_row < rows; tile_row += kConsumerThreads<kWarpgroups> / kPieces) {
    const uint4 values = *reinterpret_cast<const uint4*>(tile + tile_row * kRowBytes + 16 * piece);
    epilogue.store_eight(m_base + tile_row, column, values, whole);
  }
}

// Whether the consumers' loop runs kXStages tiles at a time, every stage, weight ring slot and
// barrier a constant (the loop over stages computed them: 139 -> 118 instructions a tile at 64 and
// 128 batch rows). Where m64n64 and m64n128 wgmmas are short, the consumers' other instructions
// slow the tensor pipe about as much as they take to issue (benchmarks/NOTES.md, v42): H200,
// bench_fragment_mm, us, 128 rows: M=128 8192^2 32.5 -> 30.1, 28672 x 8192 104.8 -> 96.6; M=256
// 6144 x 4096 28.3 -> 25.4; 64 rows, seven warpgroups: M=64 28672 x 8192 70.1 -> 66.1; four:
// M=64 8192^2 25.3 -> 24.8, 8192 x 28672 70.5 -> 71.0. The 256-row tile keeps the loop: it would
// spill (its nine warps hold at most 168 registers), and its m64n256 steps hide the issue.
template <int kBatchRows>
constexpr bool kUnrolledStages = kBatchRows <= 128;

// grid (ceil(padded_n / (64 * kWarpgroups)), splits, ceil(m / kBatchRows)); kWgmmaThreads<kBatchRows,
// kWarpgroups> threads; kWgmmaSharedBytes<kBatchRows, kWarpgroups> bytes of dynamic shared memory.
// `x_map` is a TMA tensor map with a 64 x kBatchRows box and the 128-byte swizzle
// (make_x_tensor_map): of x in step order with kXByTma, else of x as it is (the staging producer
// orders it).
template <typename T, int kBatchRows, int kWarpgroups>
__global__ void __launch_bounds__(kWgmmaThreads<kBatchRows, kWarpgroups>, 1)
    fragment_wgmma_kernel(const __grid_constant__ CUtensorMap x_map, FragmentMmParams p,
                          FragmentMmEpilogue<T> epilogue) {
  extern __shared__ __align__(1024) uint8_t x_stages[];
  const uint32_t stages_address = static_cast<uint32_t>(__cvta_generic_to_shared(x_stages));
  const uint32_t full_barriers = stages_address + kXStages * kXStageBytes<kBatchRows>;
  const int64_t m_base = blockIdx.z * int64_t{kBatchRows};
  const int64_t split = blockIdx.y, tile_begin = split * p.k_tiles_per_split;
  // A split's tile count fits an int (K < 2^37): 32-bit loop arithmetic in the hot loops.
  const int tiles = static_cast<int>(min(tile_begin + p.k_tiles_per_split, p.k_tiles) - tile_begin);
  const uint32_t staging_address = stages_address + kXStagingOffset<kBatchRows, kWarpgroups>;
  if (threadIdx.x == 0) {  // the stages' full mbarriers (TMA), or the staging slots' full and empty ones
    if constexpr (kXByTma<kBatchRows>) {
      for (int stage = 0; stage < kXStages; ++stage) mbarrier_init(full_barriers + 8 * stage, 1);
    } else {
      for (int slot = 0; slot < kXStagingSlots; ++slot) {
        mbarrier_init(staging_address + kXStagingFullOffset<kBatchRows> + 8 * slot, 1);
        mbarrier_init(staging_address + kXStagingEmptyOffset<kBatchRows> + 8 * slot, kProducerWarps);
      }
    }
    fence_mbarrier_init();
  }
  __syncthreads();
  if (threadIdx.x >= kConsumerThreads<kWarpgroups>) {
    cuda::wait_for_prior_grids();  // x (or x in step order) may come from the kernel before this one
    if constexpr (kXByTma<kBatchRows>) {
      produce_x_by_tma<kBatchRows, kWarpgroups>(x_map, m_base, tile_begin, tiles, stages_address, full_barriers);
    } else {
      produce_x_through_staging<kBatchRows, kWarpgroups>(x_map, m_base, tile_begin, tiles, stages_address,
                                                         staging_address);
    }
    return;
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, group = lane / 4, thread_in_group = lane % 4;
  const int64_t strip = blockIdx.x * int64_t{kWarpgroups * kWarpgroupWeightRows / kFragmentRows} + warp;
  const bool strip_exists = strip < p.strips;  // a missing strip decodes zero codes, and still takes part
  using Ring = ConsumerWeightRing;
  // Where the strip's tiles of the split start (32 lanes' words a tile); a missing strip copies
  // nothing, and its ring points at the weight's start.
  const int64_t split_start = strip_exists ? (strip * p.k_tiles + tile_begin) * 32 : 0;
  Ring weights(stages_address + kWeightRingsOffset<kBatchRows> + warp * Ring::kWarpBytes, p.codes + split_start,
               p.scales + split_start, strip_exists, tiles);
  cuda::wait_for_prior_grids();  // the epilogue reads alpha and bias and writes out or the partial sums

  float acc[kBatchRows / 2] = {};
  uint32_t a[2][4];
  const int refills = tiles - kXStages;  // tiles whose stage the producer refills: 0 .. refills - 1
  // Tile i of the split, at x stage i % kXStages (`stage`: an int, or a std::integral_constant
  // where the loop is unrolled over the stages), which is also its weight ring slot; `phase` is
  // the parity of the stage's full barrier for this pass over the stages.
  static_assert(kXStages == Ring::kDepth, "a tile's x stage is its weight ring slot");
  const auto consume_tile = [&](int i, uint32_t phase, auto stage_of_tile) {
    const int stage = value_of(stage_of_tile);
    weights.copy_into(stage == 0 ? Ring::kDepth - 1 : stage - 1);  // tile i + kDepth - 1
    uint4 tile_codes;
    uint32_t tile_scales;
    weights.read(stage, tile_codes, tile_scales);  // tile i
    Pair<T> scale[2];
    scale_pairs<T>(tile_scales, scale);
    const uint32_t step_codes[kFragmentSteps] = {tile_codes.x, tile_codes.y, tile_codes.z, tile_codes.w};
    // The step descriptors differ only in their start address, 32 bytes (2 units) a step.
    const uint64_t descriptor = x_step_descriptor(stages_address + stage * kXStageBytes<kBatchRows>, 0);
    const int previous_stage = stage == 0 ? kXStages - 1 : stage - 1;
    const bool release_previous = i >= 1 && i - 1 < refills;
    if constexpr (kXByTma<kBatchRows>) {
      mbarrier_wait(full_barriers + 8 * stage, phase);
    } else {
      barrier_sync<kWgmmaThreads<kBatchRows, kWarpgroups>>(full_barrier(stage));
    }
#pragma unroll
    for (int step = 0; step < kFragmentSteps; ++step) {
      decode_step<T>(step_codes[step], scale, a[step % 2]);
      cute::warpgroup_arrive();
      wgmma_step<T, kBatchRows>(acc, a[step % 2], descriptor + 2 * step, std::make_index_sequence<kBatchRows / 2>{});
      cute::warpgroup_commit_batch();
      cute::warpgroup_wait<1>();  // the previous step is done: its A registers are free for the next one
      // At step 0 that previous step was the last of tile i - 1: its stage may be refilled, if the
      // producer will refill it.
      if (step == 0 && release_previous) {
        barrier_arrive<kWgmmaThreads<kBatchRows, kWarpgroups>>(empty_barrier(previous_stage));
      }
    }
  };
  if constexpr (kUnrolledStages<kBatchRows>) {
    // kXStages tiles at a time, then the last ones (fewer than kXStages) at stages 0, 1, ...
    int first = 0;
    uint32_t phase = 0;
    for (; first + kXStages <= tiles; first += kXStages, phase ^= 1) {
      for_each_constant([&](auto stage) { consume_tile(first + value_of(stage), phase, stage); },
                        std::make_integer_sequence<int, kXStages>{});
    }
    for_each_constant(
        [&](auto stage) {
          if (value_of(stage) < tiles - first) consume_tile(first + value_of(stage), phase, stage);
        },
        std::make_integer_sequence<int, kXStages - 1>{});
  } else {
    int stage = 0;
    uint32_t phase = 0;
    for (int i = 0; i < tiles; ++i) {
      consume_tile(i, phase, stage);
      if (++stage == kXStages) stage = 0, phase ^= 1;
    }
  }
  cute::warpgroup_wait<0>();

  // Accumulators: for batch columns 8j + 2t (+1), acc[4j], acc[4j + 1] at weight row g of this
  // warp's strip, acc[4j + 2], acc[4j + 3] at row g + 8.
  if (p.partial != nullptr) {
#pragma unroll
    for (int j = 0; j < kBatchRows / 8; ++j) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int64_t row = m_base + 8 * j + 2 * thread_in_group + c % 2;
        const int64_t column = strip * kFragmentRows + group + 8 * (c / 2);
        if (row < p.m && column < p.padded_n) {
          p.partial[partial_sum_offset(split, p.m, row, p.padded_n, column)] = acc[4 * j + c];
        }
      }
    }
    return;
  }
  store_through_shared<T, kBatchRows, kWarpgroups>(acc, epilogue, p.m - m_base,
                                                   blockIdx.x * int64_t{kWarpgroups * kWarpgroupWeightRows}, m_base,
                                                   stages_address, x_stages);
}

// Launches the wgmma kernel on `stream`: grid (strip blocks, splits, batch blocks). With kXByTma
// it reads x in step order from `x_steps`, else x from `params.x`. With splits > 1
// `params.partial` receives the sums of each split, else it must be null and `epilogue` stores the
// result.
template <typename T, int kBatchRows, int kWarpgroups>
cudaError_t launch_fragment_wgmma(const T* x_steps, const FragmentMmParams& params, int64_t splits,
                                  const FragmentMmEpilogue<T>& epilogue, cudaStream_t stream) {
  constexpr int kSharedBytes = kWgmmaSharedBytes<kBatchRows, kWarpgroups>;
  // More than 48 KB of dynamic shared memory needs an opt-in, once per kernel and device.
  static std::atomic<uint64_t> opted_in_devices{0};
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  const uint64_t device_bit = device < 64 ? uint64_t{1} << device : 0;
  if ((opted_in_devices.load(std::memory_order_relaxed) & device_bit) == 0) {
    const cudaError_t status = cudaFuncSetAttribute(fragment_wgmma_kernel<T, kBatchRows, kWarpgroups>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
    if (status != cudaSuccess) return status;
    opted_in_devices.fetch_or(device_bit, std::memory_order_relaxed);
  }
  CUtensorMap x_map{};
  if constexpr (kXByTma<kBatchRows>) {
    const int64_t columns = params.k_tiles * kFragmentK;  // x in step order: whole tiles, whole batch tiles
    if (const cudaError_t status = make_x_tensor_map<T>(&x_map, x_steps, x_steps_rows(params.m, kBatchRows), columns,
                                                        columns * int64_t{sizeof(T)}, kBatchRows);
        status != cudaSuccess) {
      return status;
    }
  } else {  // x as it is, for the staging producer
    if (const cudaError_t status = make_x_tensor_map<T>(&x_map, static_cast<const T*>(params.x), params.m, params.k,
                                                        params.k * int64_t{sizeof(T)}, kBatchRows);
        status != cudaSuccess) {
      return status;
    }
  }
  constexpr int kWeightRows = kWarpgroups * kWarpgroupWeightRows;
  const dim3 grid(static_cast<unsigned>((params.padded_n + kWeightRows - 1) / kWeightRows),
                  static_cast<unsigned>(splits), static_cast<unsigned>((params.m + kBatchRows - 1) / kBatchRows));
  return cuda::launch_dependent(fragment_wgmma_kernel<T, kBatchRows, kWarpgroups>, grid,
                                dim3(kWgmmaThreads<kBatchRows, kWarpgroups>), kSharedBytes, stream, x_map, params,
                                epilogue);
}

}  // namespace nvfp4::sm90
