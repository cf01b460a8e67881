// The Hopper NVFP4 GEMM for larger batches: wgmma with the weight as operand A from registers
// (torch-free). Computes out^T = W x^T for a tile of 128 weight rows by kBatchRows (64, 128 or
// 256) batch rows per CTA, over all of K or one split of it, with two consumer warpgroups and a
// producer:
//
// - the consumers, 64 weight rows each (four 16-row strips, one a warp), decode their fragment
//   words (fragment_layout.h) into the A registers of wgmma m64n<kBatchRows>k16, one k16 step
//   while the previous step multiplies (two register sets, wgmma.wait_group 1);
// - the producer copies each 64-wide K tile of x into a ring of kXStages shared-memory stages.
//   For 256-row batch tiles it is one warp that has TMA copy the tile from x in step order
//   (x_step_order_kernel.cuh): one instruction a tile, rows past M filled with zeros by the copy.
//   For smaller tiles it is a warpgroup that loads x itself (16-byte loads, 4-byte stores in step
//   order): there the ordering pass costs more than TMA saves (benchmarks/NOTES.md, v9).
//
// A stage holds the x tile as wgmma's K-major operand B with the 128-byte swizzle: batch row r at
// r * 128 bytes, its 16-byte chunk c at (c ^ (r % 8)) * 16. In step order, step s's 16 values are
// the 32 bytes a descriptor starting 32s bytes into the stage reads.
//
// Hand-over: "full" is, with TMA, an mbarrier per stage that the copy completes (expect-tx bytes),
// else a named barrier on which the producer arrives once its stores are fenced for the async
// proxy; "empty" a named barrier per stage on which the consumers arrive once the wgmmas that read
// it are done and which the producer syncs on before refilling it.
// Epilogue: alpha, bias, one rounding, stored transposed to out [M, N]; or, when K is split,
// the raw fp32 sums to the partial buffer for fragment_mm_epilogue_kernel.
#pragma once

#include <cuda.h>  // CUtensorMap
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include <atomic>
#include <cstdint>
#include <cute/arch/mma_sm90_gmma.hpp>
#include <type_traits>
#include <utility>

#include "sm90/fragment_mm_kernel.cuh"

namespace nvfp4::sm90 {

constexpr int kConsumerWarpgroups = 2;
constexpr int kWgmmaWeightRows = 64 * kConsumerWarpgroups;  // 128
constexpr int kConsumerThreads = 128 * kConsumerWarpgroups;  // 256
constexpr int kXStages = 4;
constexpr int kXRowBytes = kFragmentK * 2;  // one 64-wide tile row of x: one 128-byte swizzle row

// Which producer a batch tile uses, and the CTA's threads with it.
template <int kBatchRows>
constexpr bool kXByTma = kBatchRows == 256;
template <int kBatchRows>
constexpr int kWgmmaThreads = kConsumerThreads + (kXByTma<kBatchRows> ? 32 : 128);

// Dynamic shared memory: the stages (1024-byte aligned, as the 128-byte swizzle repeats every
// 8 rows), then the stages' full mbarriers (used with TMA).
template <int kBatchRows>
constexpr int kXStageBytes = kBatchRows * kXRowBytes;
template <int kBatchRows>
constexpr int kWgmmaSharedBytes = kXStages * kXStageBytes<kBatchRows> + 8 * kXStages;

// Named barriers (0 is __syncthreads'): stage s's full barrier of the loading producer at 1 + s,
// its empty barrier at 1 + kXStages + s; kThreads take part in each.
__device__ __forceinline__ int full_barrier(int stage) { return 1 + stage; }
__device__ __forceinline__ int empty_barrier(int stage) { return 1 + kXStages + stage; }
template <int kThreads>
__device__ __forceinline__ void barrier_sync(int id) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(kThreads) : "memory");
}
template <int kThreads>
__device__ __forceinline__ void barrier_arrive(int id) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "n"(kThreads) : "memory");
}

// wgmma reads shared memory through the async proxy: stores of the generic proxy must be fenced
// before the barrier that hands them to it.
__device__ __forceinline__ void fence_for_async_proxy() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// The "full" mbarriers: initialised for one arrival (the producer's, with the tile's bytes as
// expected transaction count), completed by the copy.
__device__ __forceinline__ void full_init(uint32_t barrier) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(barrier) : "memory");
}
__device__ __forceinline__ void full_expect(uint32_t barrier, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barrier), "r"(bytes) : "memory");
}
__device__ __forceinline__ void full_wait(uint32_t barrier, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n}\n" ::"r"(barrier),
      "r"(parity)
      : "memory");
}

// TMA: the x box at (column, row) into shared memory, completing `barrier`'s transaction count.
__device__ __forceinline__ void copy_x_tile(const CUtensorMap& x_map, uint32_t destination, uint32_t barrier,
                                            int32_t column, int32_t row) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          destination),
      "l"(reinterpret_cast<uint64_t>(&x_map)), "r"(column), "r"(row), "r"(barrier)
      : "memory");
}

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

// The producer warpgroup: copies the x tiles of this CTA's K range into the stages. Each lane
// loads 16 bytes of a row (8 values: columns 8q .. 8q + 7, q = lane % 8, pairs 4q .. 4q + 3) and
// stores its four pairs; a warp instruction covers four rows. The four rows' chunks c ^ (r % 8)
// and bytes 4 (q / 2) fall in 32 different banks. Loads run two tiles ahead of the stores, in two
// register sets.
template <int kBatchRows>
struct XRegisters {
  static constexpr int kLoads = kBatchRows / 16;  // 16-byte loads a thread and tile
  uint4 values[kLoads];
};

// 16 bytes from global memory, or zeros where `valid` is false (nothing is read then): a
// predicated load rather than a branch, to keep the producer's loop short.
__device__ __forceinline__ uint4 load_or_zero(const void* source, bool valid) {
  uint4 v;
  asm(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %5, 0;\n"
      "mov.b32 %0, 0;\nmov.b32 %1, 0;\nmov.b32 %2, 0;\nmov.b32 %3, 0;\n"
      "@p ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];\n}\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(source), "r"(static_cast<int>(valid)));
  return v;
}

template <int kBatchRows>
__device__ __forceinline__ void produce_x_by_loads(const FragmentMmParams& p, int64_t m_base, int64_t tile_begin,
                                                   int64_t tiles, uint32_t stages_address) {
  constexpr int kLoads = XRegisters<kBatchRows>::kLoads;
  static_assert(!kXByTma<kBatchRows>, "a producer warpgroup");
  const int producer_thread = threadIdx.x - kConsumerThreads;
  const int warp = producer_thread / 32, lane = producer_thread % 32, q = lane % 8;
  // This thread's rows: first_row + 16 j, all with the same row % 8, hence the same four chunks.
  const int first_row = 4 * warp + lane / 8;
  const int64_t rows_left = p.m - m_base - first_row;  // rows first_row + 16 j exist for j < rows_left / 16
  const int64_t row_groups_left = rows_left <= 0 ? 0 : (rows_left + 15) / 16;
  const int valid_rows = static_cast<int>(row_groups_left < kLoads ? row_groups_left : kLoads);
  const int64_t row_bytes = 2 * p.k, load_stride = 16 * row_bytes;
  const uint8_t* thread_x = static_cast<const uint8_t*>(p.x) + (m_base + first_row) * row_bytes + 16 * q;
  uint32_t pair_offsets[4];  // pair 4q + w of the row: chunk (4q + w) % 8 = 4 (q % 2) + w, byte 4 (q / 2)
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    pair_offsets[w] = first_row * kXRowBytes + (((4 * (q % 2) + w) ^ (first_row % 8)) << 4) + 4 * (q / 2);
  }

  const auto load = [&](int64_t i, XRegisters<kBatchRows>& registers) {
    const int64_t tile = tile_begin + i;
    // K is a multiple of 8: a load is wholly inside K or wholly past it.
    const int tile_rows = tile * kFragmentK + 8 * q < p.k ? valid_rows : 0;
    const uint8_t* source = thread_x + tile * kXRowBytes;
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {  // rows past m and columns past K multiply as zeros
      registers.values[j] = load_or_zero(source + j * load_stride, j < tile_rows);
    }
  };
  const auto store = [&](int64_t i, const XRegisters<kBatchRows>& registers) {
    const int stage = static_cast<int>(i % kXStages);
    if (i >= kXStages) barrier_sync<kWgmmaThreads<kBatchRows>>(empty_barrier(stage));
    const uint32_t stage_address = stages_address + stage * uint32_t{kBatchRows * kXRowBytes};
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      const uint32_t words[4] = {registers.values[j].x, registers.values[j].y, registers.values[j].z,
                                 registers.values[j].w};
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(stage_address + pair_offsets[w] + 16 * j * kXRowBytes),
                     "r"(words[w])
                     : "memory");
      }
    }
    fence_for_async_proxy();
    barrier_arrive<kWgmmaThreads<kBatchRows>>(full_barrier(stage));
  };

  XRegisters<kBatchRows> even, odd;
  if (tiles > 0) load(0, even);
  if (tiles > 1) load(1, odd);
  for (int64_t i = 0; i < tiles; i += 2) {
    store(i, even);
    if (i + 2 < tiles) load(i + 2, even);
    if (i + 1 < tiles) {
      store(i + 1, odd);
      if (i + 3 < tiles) load(i + 3, odd);
    }
  }
}

// The TMA producer warp: one copy a tile, issued by lane 0 once the consumers have freed the stage.
template <int kBatchRows>
__device__ __forceinline__ void produce_x_by_tma(const CUtensorMap& x_map, int64_t m_base, int64_t tile_begin,
                                                 int tiles, uint32_t stages_address, uint32_t full_barriers) {
  static_assert(kXByTma<kBatchRows>, "a producer warp");
  const bool leader = threadIdx.x % 32 == 0;
  for (int i = 0; i < tiles; ++i) {
    const int stage = i % kXStages;
    if (i >= kXStages) barrier_sync<kWgmmaThreads<kBatchRows>>(empty_barrier(stage));
    if (leader) {
      const uint32_t full = full_barriers + 8 * stage;
      full_expect(full, kXStageBytes<kBatchRows>);
      copy_x_tile(x_map, stages_address + stage * kXStageBytes<kBatchRows>, full,
                  static_cast<int32_t>((tile_begin + i) * kFragmentK), static_cast<int32_t>(m_base));
    }
  }
}

// grid (ceil(padded_n / 128), splits, ceil(m / kBatchRows)); kWgmmaThreads<kBatchRows> threads;
// kWgmmaSharedBytes<kBatchRows> bytes of dynamic shared memory. With kXByTma, `x_map` is x in step
// order as a TMA tensor map with a 64 x kBatchRows box and the 128-byte swizzle
// (make_x_tensor_map); else the producer reads p.x and x_map is not used.
template <typename T, int kBatchRows>
__global__ void __launch_bounds__(kWgmmaThreads<kBatchRows>, 1)
    fragment_wgmma_kernel(const __grid_constant__ CUtensorMap x_map, FragmentMmParams p,
                          FragmentMmEpilogue<T> epilogue) {
  extern __shared__ __align__(1024) uint8_t x_stages[];
  const uint32_t stages_address = static_cast<uint32_t>(__cvta_generic_to_shared(x_stages));
  const uint32_t full_barriers = stages_address + kXStages * kXStageBytes<kBatchRows>;
  const int64_t m_base = blockIdx.z * int64_t{kBatchRows};
  const int64_t split = blockIdx.y, tile_begin = split * p.k_tiles_per_split;
  // A split's tile count fits an int (K < 2^37): 32-bit loop arithmetic in the hot loops.
  const int tiles = static_cast<int>(min(tile_begin + p.k_tiles_per_split, p.k_tiles) - tile_begin);
  if (threadIdx.x == 0) {
    for (int stage = 0; stage < kXStages; ++stage) full_init(full_barriers + 8 * stage);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");  // visible to the async proxy
  }
  __syncthreads();
  if (threadIdx.x >= kConsumerThreads) {
    if constexpr (kXByTma<kBatchRows>) {
      produce_x_by_tma<kBatchRows>(x_map, m_base, tile_begin, tiles, stages_address, full_barriers);
    } else {
      produce_x_by_loads<kBatchRows>(p, m_base, tile_begin, tiles, stages_address);
    }
    return;
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, group = lane / 4, thread_in_group = lane % 4;
  const int64_t strip = blockIdx.x * int64_t{kWgmmaWeightRows / kFragmentRows} + warp;
  const bool strip_exists = strip < p.strips;  // a missing strip decodes zero codes, and still takes part
  const uint4* codes = p.codes + (strip * p.k_tiles + tile_begin) * 32 + lane;
  const uint16_t* scales = p.scales + (strip * p.k_tiles + tile_begin) * 32 + lane;

  float acc[kBatchRows / 2] = {};
  uint32_t a[2][4];
  uint4 next_codes = strip_exists && tiles > 0 ? __ldg(codes) : make_uint4(0, 0, 0, 0);
  uint32_t next_scales = strip_exists && tiles > 0 ? __ldg(scales) : 0u;
  const int refills = tiles - kXStages;  // tiles whose stage the producer refills: 0 .. refills - 1
  int stage = 0;
  uint32_t phase = 0;  // parity of the stage's full barrier for this pass over the ring
  for (int i = 0; i < tiles; ++i) {
    const uint4 tile_codes = next_codes;
    const uint32_t tile_scales = next_scales;
    if (i + 1 < tiles && strip_exists) {
      next_codes = __ldg(codes + 32 * (i + 1)), next_scales = __ldg(scales + 32 * (i + 1));
    }
    Pair<T> scale[2];
    scale_pairs<T>(tile_scales, scale);
    const uint32_t step_codes[kFragmentSteps] = {tile_codes.x, tile_codes.y, tile_codes.z, tile_codes.w};
    // The step descriptors differ only in their start address, 32 bytes (2 units) a step.
    const uint64_t descriptor = x_step_descriptor(stages_address + stage * kXStageBytes<kBatchRows>, 0);
    const int previous_stage = stage == 0 ? kXStages - 1 : stage - 1;
    const bool release_previous = i >= 1 && i - 1 < refills;
    if constexpr (kXByTma<kBatchRows>) {
      full_wait(full_barriers + 8 * stage, phase);
    } else {
      barrier_sync<kWgmmaThreads<kBatchRows>>(full_barrier(stage));
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
      if (step == 0 && release_previous) barrier_arrive<kWgmmaThreads<kBatchRows>>(empty_barrier(previous_stage));
    }
    if (++stage == kXStages) stage = 0, phase ^= 1;
  }
  cute::warpgroup_wait<0>();

  // Accumulators: for batch columns 8j + 2t (+1), acc[4j], acc[4j + 1] at weight row g of this
  // warp's strip, acc[4j + 2], acc[4j + 3] at row g + 8.
  const bool partial_sums = p.partial != nullptr;
#pragma unroll
  for (int j = 0; j < kBatchRows / 8; ++j) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t row = m_base + 8 * j + 2 * thread_in_group + c % 2;
      const int64_t column = strip * kFragmentRows + group + 8 * (c / 2);
      if (row >= p.m || column >= p.padded_n) continue;
      if (partial_sums) {
        p.partial[(split * p.m + row) * p.padded_n + column] = acc[4 * j + c];
      } else if (column < epilogue.n) {
        epilogue.store(row, column, acc[4 * j + c]);
      }
    }
  }
}

// x in step order, [m, k_tiles * 64] (T, row-major, 16-byte aligned), as the TMA tensor map the
// kernel reads: boxes of 64 columns by kBatchRows rows, the 128-byte swizzle, zeros past m.
template <typename T, int kBatchRows>
cudaError_t make_x_tensor_map(CUtensorMap* map, const T* x_steps, int64_t m, int64_t k_tiles) {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* function = nullptr;
    cudaDriverEntryPointQueryResult found{};
    const cudaError_t status =
        cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &found);
    return status == cudaSuccess && found == cudaDriverEntryPointSuccess
               ? reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function)
               : nullptr;
  }();
  if (encode == nullptr) return cudaErrorSymbolNotFound;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k_tiles * kFragmentK), static_cast<cuuint64_t>(m)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k_tiles * kXRowBytes)};  // bytes between rows
  const cuuint32_t box[2] = {kFragmentK, kBatchRows};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUtensorMapDataType type =
      std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult result = encode(map, type, 2, const_cast<T*>(x_steps), dims, strides, box, element_strides,
                                 CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return result == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

// Launches the wgmma kernel on `stream`: grid (strip blocks, splits, batch blocks). With kXByTma
// it reads x in step order from `x_steps`, else x from `params.x`. With splits > 1
// `params.partial` receives the sums of each split, else it must be null and `epilogue` stores the
// result.
template <typename T, int kBatchRows>
cudaError_t launch_fragment_wgmma(const T* x_steps, const FragmentMmParams& params, int64_t splits,
                                  const FragmentMmEpilogue<T>& epilogue, cudaStream_t stream) {
  constexpr int kSharedBytes = kWgmmaSharedBytes<kBatchRows>;
  // More than 48 KB of dynamic shared memory needs an opt-in, once per kernel and device.
  static std::atomic<uint64_t> opted_in_devices{0};
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  const uint64_t device_bit = device < 64 ? uint64_t{1} << device : 0;
  if ((opted_in_devices.load(std::memory_order_relaxed) & device_bit) == 0) {
    const cudaError_t status = cudaFuncSetAttribute(fragment_wgmma_kernel<T, kBatchRows>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
    if (status != cudaSuccess) return status;
    opted_in_devices.fetch_or(device_bit, std::memory_order_relaxed);
  }
  CUtensorMap x_map{};
  if constexpr (kXByTma<kBatchRows>) {
    if (const cudaError_t status = make_x_tensor_map<T, kBatchRows>(&x_map, x_steps, params.m, params.k_tiles);
        status != cudaSuccess) {
      return status;
    }
  }
  const dim3 grid(static_cast<unsigned>((params.padded_n + kWgmmaWeightRows - 1) / kWgmmaWeightRows),
                  static_cast<unsigned>(splits), static_cast<unsigned>((params.m + kBatchRows - 1) / kBatchRows));
  fragment_wgmma_kernel<T, kBatchRows>
      <<<grid, kWgmmaThreads<kBatchRows>, kSharedBytes, stream>>>(x_map, params, epilogue);
  return cudaGetLastError();
}

}  // namespace nvfp4::sm90
