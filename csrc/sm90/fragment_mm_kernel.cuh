// The Hopper NVFP4 GEMM, split-K version (torch-free):
// out = alpha * (x @ (e2m1 * sf)^T) + bias with the weight in the fragment layout
// (csrc/include/nvfp4/fragment_layout.h).
//
// Each warp owns one 16-row strip of the weight over one K range (a split) and streams its tiles
// with one 16-byte load per lane (the codes of four k16 steps) and one 2-byte load (their two
// scales), kTileGroup tiles at a time, the next group's loads issued before this one's work.
// Codes become exact 16-bit values of x's type in registers (each code's bits shifted into place,
// one packed multiply by the block scale: decode_step), and mma.sync m16n8k16 multiplies them
// with x's operands, 16 contiguous values a lane and tile, read from shared memory where that pays
// (XSource), so that a tile's few MMAs wait on shared memory rather than on L2: at 8 batch rows a
// warp, where the CTA's x fits, the CTA first copies its rows of x over its K range (kShared);
// else, over long splits, TMA copies each tile's rows into a ring of slots a few tiles ahead
// (kRing); else each lane reads them straight from global memory (x is small and shared by every
// warp: it lives in L2 and L1).
// The splits of one output tile run as one thread-block cluster (at most 8 CTAs along grid y):
// each leaves its fp32 sums in its shared memory; then each sums a share of the outputs, reading
// every split's value through the cluster's distributed shared memory and adding them in split
// order (deterministic), applies alpha, adds the bias and rounds once to the output type. No
// workspace, no second kernel. Or, where the plan says (split_sums_by_kernel), the CTAs run
// without a cluster and leave their sums in a global buffer, which fragment_mm_epilogue_kernel
// adds up in the same order, as it does for the wgmma kernel's splits.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cooperative_groups.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>

#include "cuda/dependent_launch.cuh"
#include "cuda/device_convert.cuh"
#include "cuda/quantize_block.cuh"
#include "nvfp4/fragment_layout.h"
#include "sm90/tma_copy.cuh"
#include "sm90/unrolled.cuh"

namespace nvfp4::sm90 {

constexpr int kWarpsPerBlock = 4;

struct FragmentMmParams {
  const void* x;  // [m, k] fp16 or bf16, contiguous, 16-byte aligned (the kernels read it in 16-byte vectors)
  int64_t m;
  int64_t k;
  const uint4* codes;   // fragment layout: [strips][k_tiles][32 lanes] x 16 bytes
  const uint16_t* scales;  // fragment layout: [strips][k_tiles][32 lanes] x 2 bytes
  int64_t strips;
  int64_t k_tiles;
  int64_t k_tiles_per_split;
  float* partial;  // [splits, m, padded_n]: the split sums for fragment_mm_epilogue_kernel, or null
  int64_t padded_n;
  // W4A4: x's encode scale (fp32, on the device), x rounded to NVFP4 in shared memory by the
  // split-K kernel copying x whole (XSource::kShared); null otherwise.
  const float* x_global_scale;
  // W4A4 where nvfp4_qdq rounds x in the kernel before this one: the split-K kernel reading x from
  // global memory asks L2 for more of its weight while it waits for that pass
  // (kL2PrefetchTilesAfterPass).
  bool after_rounding_pass;
};

// Where split `split`'s fp32 sum of output (row, column) lies in the partial buffer [splits, m,
// padded_n] that fragment_mm_epilogue_kernel adds up (both GEMM kernels write it).
__host__ __device__ constexpr int64_t partial_sum_offset(int64_t split, int64_t m, int64_t row, int64_t padded_n,
                                                         int64_t column) {
  return (split * m + row) * padded_n + column;
}

// The decode produces e2m1 * sf * 2^-7 (see decode_step): the epilogues multiply the fp32 sums
// by this, which is exact.
constexpr float kDecodeUnscale = 128.0f;

// Where the results go: out [m, n] = alpha * sum + bias, alpha one value or [n], bias [n] or null;
// `sum` is what the kernels accumulate (the decode's scale still in it).
template <typename T>
struct FragmentMmEpilogue {
  const float* alpha;
  bool alpha_per_column;
  const T* bias;
  T* out;
  int64_t n;           // output columns: out's row r holds columns 0 .. n - 1 at out + r * out_stride
  int64_t out_stride;  // elements from one row of out to the next: n, or more for a range of columns

  // What the result of one output column needs: its alpha and bias (0 without one), read once by
  // a thread that finishes many rows of the column.
  struct Column {
    float alpha;
    float bias;
  };
  __device__ Column column_of(int64_t column) const {
    return {alpha[alpha_per_column ? column : 0], bias != nullptr ? cuda::to_float(bias[column]) : 0.0f};
  }
  // The output value of a sum before its rounding: alpha, then the bias (only where there is one:
  // adding 0 would turn a -0 into +0).
  __device__ float value_of(float sum, const Column& c) const {
    float value = c.alpha * (sum * kDecodeUnscale);
    if (bias != nullptr) value += c.bias;
    return value;
  }
  // The output value of a sum, rounded once to T.
  __device__ T finish(float sum, const Column& c) const { return cuda::from_float<T>(value_of(sum, c)); }
  // Two sums of one column, finished as a 32-bit pair of T (`low` in the low half).
  __device__ uint32_t finish_pair(float low, float high, const Column& c) const {
    return cuda::pair_from_floats<T>(value_of(low, c), value_of(high, c));
  }
  __device__ void store(int64_t row, int64_t column, float sum) const {
    out[row * out_stride + column] = finish(sum, column_of(column));
  }
  // Whether out takes one 16-byte store for 8 outputs of a row from a column that is a multiple
  // of 8 (store_eight): out_stride and out keep every such piece aligned.
  __device__ bool stores_eights() const {
    return out_stride % 8 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
  }
  // Outputs column .. column + 7 of a row (column a multiple of 8; `values` 8 finished T): one
  // 16-byte store where `whole` (stores_eights() and column + 8 <= n), else those below n one by one.
  __device__ void store_eight(int64_t row, int64_t column, const uint4& values, bool whole) const {
    T* destination = out + row * out_stride + column;
    if (whole) {
      *reinterpret_cast<uint4*>(destination) = values;
    } else {
      const T* elements = reinterpret_cast<const T*>(&values);
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        if (column + e < n) destination[e] = elements[e];
      }
    }
  }
};

// Splits of one output tile in a cluster: the portable cluster size.
constexpr int64_t kMaxClusterSplits = 8;

// A CTA's split sums in shared memory (static), [warp][value][lane].
__host__ __device__ constexpr int split_sums_bytes(int n_tiles) {
  return kWarpsPerBlock * 4 * n_tiles * 32 * int{sizeof(float)};
}

// Where the split-K kernel reads x's operands (plan_fragment_mm chooses).
enum class XSource {
  kGlobal,  // each lane loads its own from global memory (x is small: L2 and L1 hold it)
  kShared,  // the CTA first copies its rows over its split into shared memory
  kRing,    // TMA copies each tile's rows into a ring of slots in shared memory, ahead of the warps
};

// kShared: [tile of the split][row of the CTA's batch tile][8 chunks of 16 bytes], chunk c of row
// r at place c ^ (r % 2): a warp's 16-byte loads then read rows g and g + 1 from different banks.
__device__ __forceinline__ int x_shared_chunk(int row, int chunk) { return chunk ^ (row % 2); }

// W4A4 with kShared: the CTA rounds its copy of x in place, each block of 16 values as nvfp4_qdq
// does (the same function), so that the GEMM multiplies nvfp4_qdq(x, gs) with no kernel before
// it. Block t of a row's tile is that tile row's chunks 2t and 2t + 1; blocks past K stay zero.
// The table of E2M1 multipliers follows x in the dynamic shared memory (kXRoundingTableBytes
// more than x's bytes: the launch asks for them only in W4A4 mode); the kernel reads gs and fills
// the table while x's copy is in flight (cuda::fill_inverse_table), then rounds.
constexpr int kXRoundingTableBytes = cuda::kScaleTableSize * int{sizeof(float)};
using XRoundingTable = float[cuda::kScaleTableSize];
__device__ __forceinline__ XRoundingTable& x_rounding_table(uint4* x_shared, int tiles, int rows) {
  static_assert(kWarpsPerBlock * 32 >= cuda::kScaleTableSize, "the CTA fills the table");
  return *reinterpret_cast<XRoundingTable*>(x_shared + tiles * rows * kXRowChunks);
}
template <typename T>
__device__ void round_x_shared(uint4* x_shared, int tiles, int rows, int64_t first_column, int64_t k, float gs,
                               const XRoundingTable& inverse_table) {
  const bool gs_valid = is_valid_global_scale(gs);
  constexpr int kBlocksPerTile = kFragmentK / kBlockSize;
  for (int b = threadIdx.x; b < tiles * rows * kBlocksPerTile; b += kWarpsPerBlock * 32) {
    const int t = b % kBlocksPerTile, row = b / kBlocksPerTile % rows, tile = b / kBlocksPerTile / rows;
    if (first_column + tile * kFragmentK + kBlockSize * t >= k) continue;
    uint4* tile_row = x_shared + (tile * rows + row) * kXRowChunks;
    uint4& low = tile_row[x_shared_chunk(row, 2 * t)];
    uint4& high = tile_row[x_shared_chunk(row, 2 * t + 1)];
    static_assert(cuda::BlockBits<T>::kWords == 8, "a block of 16-bit values is two 16-byte chunks");
    const cuda::BlockBits<T> block{{low.x, low.y, low.z, low.w, high.x, high.y, high.z, high.w}};
    alignas(16) T results[kBlockSize];
    cuda::qdq_block(block, gs, gs_valid, inverse_table, results);
    low = reinterpret_cast<const uint4*>(results)[0];
    high = reinterpret_cast<const uint4*>(results)[1];
  }
  __syncthreads();
}

// kRing: kXRingSlots tiles of the CTA's 8 * kNTiles rows (tma_copy.cuh's swizzled layout), each
// with a "full" mbarrier that its copy completes and an "empty" one on which every warp of the CTA
// arrives once it has read the tile. Thread 0 issues the copies: the first kXRingSlots at the
// start, then, at tile i of its own warp, tile i - kXRingLag + kXRingSlots into the slot of tile
// i - kXRingLag once every warp has read that one: copies run kXRingSlots - kXRingLag tiles ahead of
// warp 0, and the other warps may trail it by kXRingLag tiles before it waits for them.
// Copies far ahead matter more than a loose coupling of the warps where few warps share a
// multiprocessor: with the weight streaming, x's copies from L2 take several tiles' time. H100,
// bench_fragment_mm, 8 rows a warp, four tiles ahead, 8192 x 28672 (90 tiles a split), us, lag 3 ->
// 1 (5 -> 7 tiles ahead): at 5 CTAs a multiprocessor (a build at 83 registers) M = 8 70.3 -> 55.4;
// at this kernel's 6 (78 registers) M = 4 56.3 -> 55.9, M = 8 55.9 -> 55.8; M = 8 8192^2 19.35 ->
// 18.97; 16 rows a warp even (8192^2 22.3 -> 22.4, 8192 x 28672 62.3 -> 62.3). 12 slots were slower.
constexpr int kXRingSlots = 8;
// The split-K kernel's CTAs a multiprocessor holds, as its registers allow (ptxas, sm_90a), which
// the plans count on: 56 registers a thread with 8 batch rows a warp and two tiles ahead, 80 with
// four ahead, 68 with 16 rows (9, 6 and 7 CTAs). Through the ring (kRing) the launch bounds hold
// 8, 6 and 7 (62, 80 and 72 registers): that loop runs a turn of the ring at a time, and without
// the bounds ptxas took 67, 86 and 76. The other kernels' bounds name no minimum: a minimum of 1
// made ptxas give them 63-98 registers, fewer CTAs than the plans count on.
constexpr int split_k_ctas_per_multiprocessor(int n_tiles, int tile_group, XSource x = XSource::kGlobal) {
  if (n_tiles == 2) return 7;
  if (tile_group == 4) return 6;
  return x == XSource::kRing ? 8 : 9;
}
constexpr int kXRingLag = 1;
static_assert(kXRingLag >= 1, "thread 0 refills a slot its own warp has read: lag 0 would wait on itself");
static_assert((kXRingSlots & (kXRingSlots - 1)) == 0, "a power of two: the slot and phase are a mask and a shift");
__host__ __device__ constexpr int x_ring_slot_bytes(int n_tiles) { return 8 * n_tiles * kXRowBytes; }
// The dynamic shared memory of kRing: room to align the slots, the slots, the barriers.
__host__ __device__ constexpr int x_ring_bytes(int n_tiles) {
  return kTmaSlotAlignment + kXRingSlots * x_ring_slot_bytes(n_tiles) + 2 * kXRingSlots * 8;
}

// Loads of the weight's codes and scales, which a call reads exactly once: through the
// non-coherent path without allocating in L1, so the stream leaves L1 to x and does not evict
// it. H100, bench_fragment_mm, us, __ldg -> these: M = 1 8192 x 8192 17.1 -> 16.4, 28672 x 8192
// 53.1 -> 51.4, 8192 x 28672 50.1 -> 49.0, 6144 x 4096 8.9 -> 8.7; M = 8 and 16 0.2-4% faster.
__device__ __forceinline__ uint4 load_streamed(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
__device__ __forceinline__ uint16_t load_streamed(const uint16_t* p) {
  uint16_t v;
  asm("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=h"(v) : "l"(p));
  return v;
}

// Where the split-K kernel copies x whole (XSource::kShared), its weight stream stalls from the
// first tiles' loads until the copy (and W4A4's rounding of it) is done; where W4A4's rounding pass
// runs before it (FragmentMmParams::after_rounding_pass) and x comes from global memory, it stalls
// from those loads until the pass is done (2-3 us at decode sizes). Each warp therefore asks L2
// for the next tiles of its strip after those it loads itself (kL2PrefetchTiles, or
// kL2PrefetchTilesAfterPass): a bulk prefetch, no registers and no completion to wait on. The
// weight is no earlier kernel's output (dependent_launch.cuh), so this may run before the wait for
// the kernel before; and a call reads each tile once, so the lines are used soon after they arrive
// (4 tiles: 2.3 KB a warp, 6-7 MB for a wave of CTAs on the large decode shapes, against L2's 50
// MB). Where x is copied whole, only for splits of at least kL2PrefetchMinTiles tiles: in shorter
// ones it measured slower.
// H100, bench_fragment_mm, us, without -> with (splits of 26-90 tiles): M = 1 28672 x 8192 47.5
// -> 46.6, 8192 x 28672 48.1 -> 47.3, 8192 x 8192 16.5 -> 16.3; M = 4 28672 x 8192 48.2 -> 46.7,
// 8192 x 8192 17.3 -> 16.9; in splits of 13 tiles slower: M = 1 14336 x 4096 14.7 -> 15.1, M = 8
// 6144 x 4096 9.5 -> 9.7. 8 and 16 tiles ahead were no faster at 26-90 tiles and up to 3.6 us
// slower elsewhere. Where x comes through the ring (16 rows a warp) the same prefetch cost about
// 1 us (M = 16 8192 x 8192 19.2 -> 20.2; the ring's first copies of x presumably queue behind it),
// and in the wgmma kernel 1-2% at M = 64 (benchmarks/NOTES.md, the row before row 32).
constexpr int kL2PrefetchTiles = 4;
constexpr int kL2PrefetchMinTiles = 16;
// After W4A4's rounding pass, two tiles (or what the split has past its register loads): H100,
// bench_gemm, W4A4 over cuBLAS at M = 16 on 6144 x 4096 (11-tile splits), none / 2 / 3 / 4 / 8 /
// 16 tiles: 1.64 / 1.72 / 1.70 / 1.68 / 1.56 / 1.54 (W4A16: 1.99).
constexpr int kL2PrefetchTilesAfterPass = 2;
// Bytes [begin, end) of global memory into L2, as far as they span whole 16-byte pieces (the bulk
// prefetch takes 16-byte aligned ranges: the weight's codes are, its scales need be only 8-byte
// aligned).
__device__ __forceinline__ void prefetch_to_l2(const void* begin, const void* end) {
  const uint64_t first = (reinterpret_cast<uint64_t>(begin) + 15) & ~uint64_t{15};
  const uint64_t last = reinterpret_cast<uint64_t>(end) & ~uint64_t{15};
  if (last <= first) return;
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(first), "r"(static_cast<uint32_t>(last - first))
               : "memory");
}
// Tiles first .. first + count - 1 of the split whose first tile is `first_tile` (strip * k_tiles +
// tile_begin) into L2, by one lane. The codes of a strip's tiles are contiguous (512 bytes a
// tile), as are their scales (64 bytes): two prefetches.
__device__ __forceinline__ void prefetch_tiles_to_l2(const FragmentMmParams& p, int64_t first_tile, int first,
                                                     int count) {
  const int64_t begin = (first_tile + first) * 32, end = begin + count * 32;
  prefetch_to_l2(p.codes + begin, p.codes + end);
  prefetch_to_l2(p.scales + begin, p.scales + end);
}

template <typename T>
using Pair = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;

// The two block scales of a lane's block (rows g and g + 8: two E4M3 bytes, row g's in the low
// byte), each as a pair of T holding it twice, times 2^119 for bf16 and 2^7 for fp16 (see
// decode_step). E4M3 -> fp16 is exact; so are the power-of-two products (at most 1.75 * 2^127 in
// bf16, 57344 in fp16) and the rounding to bf16 of a value with 4 significant bits.
template <typename T>
__device__ __forceinline__ void scale_pairs(uint32_t two_bytes, Pair<T> (&pairs)[2]) {
  uint32_t bits;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(bits) : "h"(static_cast<uint16_t>(two_bytes)));
  const __half2 both = *reinterpret_cast<const __half2*>(&bits);
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 scaled = __hmul2(both, __float2half2_rn(128.0f));
    pairs[0] = __low2half2(scaled), pairs[1] = __high2half2(scaled);
  } else {
    constexpr float kTwoTo119 = 0x1p119f;
    const float2 values = __half22float2(both);
    pairs[0] = __float2bfloat162_rn(values.x * kTwoTo119), pairs[1] = __float2bfloat162_rn(values.y * kTwoTo119);
  }
}

// The four A registers of one k16 step from its code word (fragment layout): each holds the exact
// pair e2m1 * sf * 2^-7 in T. A code's magnitude bits (e1 e0 m) on bits 6..8 of a bf16, its sign
// on bit 15, are the bf16 e2m1 * 2^-126 (exponent e, and for e = 0 the subnormal 0.5 m * 2^-126);
// on bits 9..11 of an fp16 they are e2m1 * 2^-14 the same way. The word keeps each register's two
// codes 16 bits apart, so a shift and a mask place both (fragment_layout.h: one shift for bf16
// registers 0..2). The scale pair carries 2^119 (bf16) or 2^7 (fp16): the product has at most 6
// significant bits, none below 2^-24, and at most 21 in magnitude: exact in either type.
template <typename T>
__device__ __forceinline__ void decode_step(uint32_t word, const Pair<T> (&scale)[2], uint32_t (&a)[4]) {
  uint32_t bits[4];
  if constexpr (std::is_same_v<T, __half>) {
    constexpr uint32_t kMagnitude = 0x0E000E00u, kSign = 0x80008000u;  // bits 9..11 and 15 of each half
    bits[0] = ((word << 9) & kMagnitude) | ((word << 6) & kSign);
    bits[1] = ((word << 6) & kMagnitude) | ((word << 3) & kSign);
    bits[2] = ((word << 3) & kMagnitude) | (word & kSign);
    bits[3] = ((word >> 1) & 0x06000600u) | ((word >> 2) & 0x08000800u) | ((word << 1) & kSign);
  } else {
    constexpr uint32_t kCode = 0x81C081C0u;  // bits 6..8 and 15 of each half
    bits[0] = (word << 6) & kCode;
    bits[1] = (word << 3) & kCode;
    bits[2] = word & kCode;
    bits[3] = ((word >> 4) & 0x00C000C0u) | ((word >> 5) & 0x01000100u) | ((word << 1) & 0x80008000u);
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    Pair<T> value = *reinterpret_cast<const Pair<T>*>(&bits[r]);
    value = __hmul2(value, scale[r % 2]);  // a0, a2: row g; a1, a3: row g + 8
    a[r] = *reinterpret_cast<const uint32_t*>(&value);
  }
}

// d += a * b for one m16n8k16 tile, fp32 accumulation.
template <typename T>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// grid (ceil(strips / kWarpsPerBlock), splits, ceil(m / (8 * kNTiles))), launched as clusters (1,
// splits, 1) with splits <= kMaxClusterSplits, or without a cluster and with p.partial for the
// split sums. kNTiles is 1 or 2: larger batches take the wgmma kernel. kTileGroup (2 or 4): tiles a
// warp loads ahead; more bytes in flight, but more registers and so fewer warps a multiprocessor
// (plan_fragment_mm chooses). kX: where x's operands come from, with dynamic shared memory of
// min(m, 8 * kNTiles) * k_tiles_per_split * kXRowBytes bytes for kShared and x_ring_bytes(kNTiles)
// for kRing, whose copies read `x_map` (x as a TMA tensor map of 64 x 8 * kNTiles tiles,
// make_x_tensor_map; unused otherwise).
template <typename T, int kNTiles, int kTileGroup, XSource kX>
__global__ void __launch_bounds__(kWarpsPerBlock * 32,
                                  kX == XSource::kRing ? split_k_ctas_per_multiprocessor(kNTiles, kTileGroup, kX) : 0)
    fragment_mm_split_kernel(const __grid_constant__ CUtensorMap x_map, FragmentMmParams p,
                             FragmentMmEpilogue<T> epilogue) {
  static_assert(kTileGroup == 2 || kTileGroup == 4, "two or four tiles ahead");
  static_assert(kNTiles == 1 || kNTiles == 2, "a warp covers 8 or 16 batch rows");
  // A split's sums, [warp][value][lane]: a warp's stores and loads are conflict-free.
  __shared__ float split_sums[kWarpsPerBlock][4 * kNTiles][32];
  static_assert(sizeof(split_sums) == split_sums_bytes(kNTiles), "split_sums_bytes");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, group = lane / 4, thread_in_group = lane % 4;
  const int64_t strip = blockIdx.x * int64_t{kWarpsPerBlock} + warp;
  // A strip past the weight computes nothing but still meets the cluster barriers.
  const bool strip_exists = strip < p.strips;
  const int64_t split = blockIdx.y, m_base = blockIdx.z * int64_t{8 * kNTiles};
  const int64_t tile_begin = split * p.k_tiles_per_split;
  const int64_t tile_end = strip_exists ? min(tile_begin + p.k_tiles_per_split, p.k_tiles) : tile_begin;
  // 32-bit arithmetic in the loop: a split's tile count and a lane's tile limit fit an int.
  const int tiles = static_cast<int>(tile_end - tile_begin);
  // This lane's block of a tile lies inside K up to tile `last_tile_in_k` of the split (K is a
  // multiple of 16; past it the codes are zero and x is not read); the first `full_tiles` tiles
  // lie inside K for every lane.
  const int64_t lane_k = tile_begin * kFragmentK + kBlockSize * thread_in_group;
  const int last_tile_in_k = lane_k >= p.k ? -1 : static_cast<int>((p.k - 1 - lane_k) / kFragmentK);
  const int64_t whole_tiles_in_k = p.k / kFragmentK - tile_begin;
  const int full_tiles = static_cast<int>(whole_tiles_in_k < tiles ? whole_tiles_in_k : tiles);

  // This lane's rows of x (its B fragment columns), at its block t of the split's first tile. A
  // row past m reads row 0 instead: its sums land in output rows that are never stored.
  const T* x_blocks[kNTiles];
  int x_rows_of_lane[kNTiles];  // the same rows, counted from m_base
#pragma unroll
  for (int j = 0; j < kNTiles; ++j) {
    const int64_t row = m_base + 8 * j + group;
    x_blocks[j] = static_cast<const T*>(p.x) + (row < p.m ? row * p.k : 0) + lane_k;
    x_rows_of_lane[j] = row < p.m ? 8 * j + group : 0;
  }
  extern __shared__ uint4 x_shared[];
  // The rows of x this CTA stores (kShared), and its split's tiles (a missing strip's warp has none
  // of its own but still helps copy them).
  const int x_rows = static_cast<int>(min(p.m - m_base, int64_t{8 * kNTiles}));
  const int split_tiles = static_cast<int>(min(tile_begin + p.k_tiles_per_split, p.k_tiles) - tile_begin);
  // kRing: the slots (aligned for the swizzle), then the full and the empty barriers; every warp
  // with a strip arrives on the empty ones.
  uint32_t ring_slots = 0, ring_full = 0, ring_empty = 0;
  if constexpr (kX == XSource::kRing) {
    const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(x_shared));
    ring_slots = (base + kTmaSlotAlignment - 1) & ~uint32_t{kTmaSlotAlignment - 1};
    ring_full = ring_slots + kXRingSlots * x_ring_slot_bytes(kNTiles);
    ring_empty = ring_full + 8 * kXRingSlots;
    // Kept in registers: recomputed from the CTA's shared window every tile (what ptxas otherwise
    // chooses), they cost ~20 instructions a tile.
    asm volatile("" : "+r"(ring_slots), "+r"(ring_full), "+r"(ring_empty));
    if (threadIdx.x == 0) {
      const int64_t warps_with_strips = min(int64_t{kWarpsPerBlock}, p.strips - blockIdx.x * int64_t{kWarpsPerBlock});
      for (int slot = 0; slot < kXRingSlots; ++slot) {
        mbarrier_init(ring_full + 8 * slot, 1);
        mbarrier_init(ring_empty + 8 * slot, static_cast<uint32_t>(warps_with_strips));
      }
      fence_mbarrier_init();
    }
    __syncthreads();
  }
  // kRing, thread 0: copies tile `tile` of the split into its slot, tile % kXRingSlots.
  const auto copy_ring_tile = [&](int tile, int slot) {
    if (tile >= split_tiles) return;
    const uint32_t full = ring_full + 8 * slot;
    mbarrier_arrive_expect(full, x_ring_slot_bytes(kNTiles));
    copy_x_tile(x_map, ring_slots + slot * x_ring_slot_bytes(kNTiles), full,
                static_cast<int32_t>((tile_begin + tile) * kFragmentK), static_cast<int32_t>(m_base));
  };
  // kRing: this lane's two 16-byte chunks of each of its rows, within a slot.
  uint32_t ring_offsets[kNTiles][2];
#pragma unroll
  for (int j = 0; j < kNTiles; ++j) {
    ring_offsets[j][0] = swizzled_chunk_offset(8 * j + group, 2 * thread_in_group);
    ring_offsets[j][1] = swizzled_chunk_offset(8 * j + group, 2 * thread_in_group + 1);
  }

  float acc[kNTiles][4] = {};
  // One tile (the split's i-th). The lane works on block t of it (fragment_layout.h): its x
  // operands for the four steps are the 16 contiguous values of that block (two 16-byte loads a
  // batch row, all issued before the MMAs), and its weights share the two scales of rows g and
  // g + 8. kInK: the tile lies inside K for every lane, so no load needs a guard. kRing: the tile's
  // slot is i % kXRingSlots (`slot`: a constant where the loop runs a turn of the ring at a time)
  // and `phase` the parity of this turn.
  const auto process_tile = [&](const uint4& codes, uint32_t scale_bytes, int i, auto in_k, int slot,
                                uint32_t phase) {
    [[maybe_unused]] constexpr bool kInK = decltype(in_k)::value;  // x from global memory only
    Pair<T> scale[2];
    scale_pairs<T>(scale_bytes, scale);
    const uint32_t step_codes[kFragmentSteps] = {codes.x, codes.y, codes.z, codes.w};
    uint4 x_block[kNTiles][2];
    [[maybe_unused]] uint32_t ring_slot = 0;
    if constexpr (kX == XSource::kRing) {
      if (threadIdx.x == 0 && i >= kXRingLag) {  // every warp has read tile i - kXRingLag: refill its slot
        const int read_slot = (slot + kXRingSlots - kXRingLag) % kXRingSlots;
        mbarrier_wait(ring_empty + 8 * read_slot, slot >= kXRingLag ? phase : phase ^ 1);
        copy_ring_tile(i - kXRingLag + kXRingSlots, read_slot);
      }
      mbarrier_wait(ring_full + 8 * slot, phase);
      ring_slot = ring_slots + slot * x_ring_slot_bytes(kNTiles);
    }
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      if constexpr (kX == XSource::kRing) {  // zeros past K and m, as copied
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          uint4& v = x_block[j][h];
          asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                       : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                       : "r"(ring_slot + ring_offsets[j][h])
                       : "memory");
        }
      } else if constexpr (kX == XSource::kShared) {  // zeros past K, as copied
        const int row = x_rows_of_lane[j];
        const uint4* tile_row = x_shared + (i * x_rows + row) * kXRowChunks;
        x_block[j][0] = tile_row[x_shared_chunk(row, 2 * thread_in_group)];
        x_block[j][1] = tile_row[x_shared_chunk(row, 2 * thread_in_group + 1)];
      } else {
        const uint4* source = reinterpret_cast<const uint4*>(x_blocks[j] + i * kFragmentK);
        const bool load = kInK || i <= last_tile_in_k;
        x_block[j][0] = load ? __ldg(source) : make_uint4(0, 0, 0, 0);
        x_block[j][1] = load ? __ldg(source + 1) : make_uint4(0, 0, 0, 0);
      }
    }
    if constexpr (kX == XSource::kRing) {
      __syncwarp();
      if (lane == 0) mbarrier_arrive(ring_empty + 8 * slot);
    }
#pragma unroll
    for (int step = 0; step < kFragmentSteps; ++step) {
      uint32_t a[4];
      decode_step<T>(step_codes[step], scale, a);
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        // x at columns 4s, 4s + 1 and 4s + 2, 4s + 3 of the block
        const uint4& half = x_block[j][step / 2];
        const uint32_t b[2] = {step % 2 ? half.z : half.x, step % 2 ? half.w : half.y};
        mma_m16n8k16<T>(acc[j], a, b);
      }
    }
  };

  // Tiles kTileGroup at a time, the next group's loads in flight while this one is worked on;
  // the pointers step along instead of being recomputed.
  const int64_t first_tile = strip * p.k_tiles + tile_begin;
  const uint4* codes_ahead = p.codes + first_tile * 32 + lane;
  const uint16_t* scales_ahead = p.scales + first_tile * 32 + lane;
  uint4 next_codes[kTileGroup] = {};
  uint32_t next_scales[kTileGroup] = {};
#pragma unroll
  for (int i = 0; i < kTileGroup; ++i) {
    if (i < tiles) {
      next_codes[i] = load_streamed(codes_ahead + 32 * i);
      next_scales[i] = load_streamed(scales_ahead + 32 * i);
    }
  }
  if constexpr (kX == XSource::kShared) {
    static_assert(kL2PrefetchMinTiles >= kTileGroup + kL2PrefetchTiles, "the prefetched tiles lie inside the split");
    if (lane == 0 && tiles >= kL2PrefetchMinTiles) prefetch_tiles_to_l2(p, first_tile, kTileGroup, kL2PrefetchTiles);
  } else if constexpr (kX == XSource::kGlobal) {
    const int count = min(kL2PrefetchTilesAfterPass, tiles - kTileGroup);
    if (lane == 0 && p.after_rounding_pass && count > 0) prefetch_tiles_to_l2(p, first_tile, kTileGroup, count);
  }
  cuda::wait_for_prior_grids();  // x, alpha, bias and out may belong to the kernel before this one
  if constexpr (kX == XSource::kRing) {
    if (threadIdx.x == 0) {
      for (int tile = 0; tile < kXRingSlots; ++tile) copy_ring_tile(tile, tile);
    }
  } else if constexpr (kX == XSource::kShared) {
    // The CTA's rows of x over its split, 16 bytes a copy (K is a multiple of 16, so a chunk lies
    // wholly inside K or wholly past it, where the copy writes zeros), while the first weight tiles
    // are in flight.
    const T* x = static_cast<const T*>(p.x);
    const int chunks = split_tiles * x_rows * kXRowChunks;
    for (int c = threadIdx.x; c < chunks; c += kWarpsPerBlock * 32) {
      const int chunk = c % kXRowChunks, row = c / kXRowChunks % x_rows;
      const int tile = c / kXRowChunks / x_rows;
      const int64_t column = (tile_begin + tile) * kFragmentK + 8 * chunk;
      const bool in_k = column < p.k;
      const T* source = in_k ? x + (m_base + row) * p.k + column : x;
      const uint32_t destination = static_cast<uint32_t>(__cvta_generic_to_shared(
          x_shared + (tile * x_rows + row) * kXRowChunks + x_shared_chunk(row, chunk)));
      asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(destination), "l"(source),
                   "r"(in_k ? 16 : 0)
                   : "memory");
    }
    const bool round_x = p.x_global_scale != nullptr;  // W4A4: the table while the copies are in flight
    XRoundingTable& rounding_table = x_rounding_table(x_shared, split_tiles, x_rows);
    const float gs = round_x ? *p.x_global_scale : 0.0f;
    if (round_x) cuda::fill_inverse_table(rounding_table, gs);  // and syncs the CTA
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    __syncthreads();
    if (round_x) round_x_shared<T>(x_shared, split_tiles, x_rows, tile_begin * kFragmentK, p.k, gs, rounding_table);
  }
  // Tiles i .. i + kTileGroup - 1 (kRing: at slots first_slot + j, a constant or an int, and
  // parity `phase`), with the next group's loads issued first. kInTurn: the group is part of a whole
  // turn of the ring, its tiles all inside the split, where no tile needs a guard (x comes from
  // the ring).
  const auto consume_group = [&](int i, auto first_slot, uint32_t phase, auto in_turn) {
    constexpr bool kInTurn = decltype(in_turn)::value;
    uint4 group_codes[kTileGroup];
    uint32_t group_scales[kTileGroup];
    codes_ahead += 32 * kTileGroup, scales_ahead += 32 * kTileGroup;
#pragma unroll
    for (int j = 0; j < kTileGroup; ++j) {
      group_codes[j] = next_codes[j], group_scales[j] = next_scales[j];
      if (i + kTileGroup + j < tiles) {
        next_codes[j] = load_streamed(codes_ahead + 32 * j);
        next_scales[j] = load_streamed(scales_ahead + 32 * j);
      }
    }
    if (kInTurn || i + kTileGroup <= full_tiles) {
#pragma unroll
      for (int j = 0; j < kTileGroup; ++j) {
        process_tile(group_codes[j], group_scales[j], i + j, std::true_type{}, value_of(first_slot) + j, phase);
      }
    } else {
#pragma unroll
      for (int j = 0; j < kTileGroup; ++j) {
        if (i + j < tiles) {
          process_tile(group_codes[j], group_scales[j], i + j, std::false_type{}, value_of(first_slot) + j, phase);
        }
      }
    }
  };
  int i = 0;
  if constexpr (kX == XSource::kRing) {
    // A turn of the ring at a time, each tile's slot a constant: the slots' barriers and
    // addresses, computed from the tile's index, were ~10 of the 16-row loop's ~147 instructions
    // a tile, and thread 0's refills more.
    static_assert(kXRingSlots % kTileGroup == 0, "a turn of the ring is whole groups");
    constexpr int kGroupsPerTurn = kXRingSlots / kTileGroup;
    uint32_t phase = 0;
#pragma unroll 1
    for (; i + kXRingSlots <= tiles; i += kXRingSlots, phase ^= 1) {
      for_each_constant(
          [&](auto group) {
            constexpr int kFirstSlot = kTileGroup * value_of(group);
            consume_group(i + kFirstSlot, std::integral_constant<int, kFirstSlot>{}, phase, std::true_type{});
          },
          std::make_integer_sequence<int, kGroupsPerTurn>{});
    }
  }
  for (; i < tiles; i += kTileGroup) {
    const uint32_t position = static_cast<uint32_t>(i);  // non-negative: a mask and a shift
    consume_group(i, static_cast<int>(position % kXRingSlots), position / kXRingSlots % 2, std::false_type{});
  }

  // Accumulator fragment: d0, d1 at weight row g, batch columns 2t, 2t + 1; d2, d3 at row g + 8.
  if (p.partial != nullptr) {  // launched without a cluster: the sums to the buffer, for the second kernel
    if (!strip_exists) return;
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int64_t row = m_base + 8 * j + 2 * thread_in_group + c % 2;
        const int64_t column = strip * kFragmentRows + group + 8 * (c / 2);
        if (row < p.m) p.partial[partial_sum_offset(split, p.m, row, p.padded_n, column)] = acc[j][c];
      }
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < kNTiles; ++j) {
#pragma unroll
    for (int c = 0; c < 4; ++c) split_sums[warp][4 * j + c][lane] = acc[j][c];
  }
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();  // every split's sums are in its shared memory
  // The splits share the summing: a lane's value v (acc[v / 4][v % 4]) is summed by split
  // v % splits, reading every split's value at once and adding them in split order.
  const int splits = static_cast<int>(cluster.num_blocks()), rank = static_cast<int>(cluster.block_rank());
#pragma unroll
  for (int v = 0; v < 4 * kNTiles; ++v) {
    const int64_t row = m_base + 8 * (v / 4) + 2 * thread_in_group + v % 2;
    const int64_t column = strip * kFragmentRows + group + 8 * (v % 4 / 2);
    if (v % splits != rank || !strip_exists || row >= p.m || column >= epilogue.n) continue;
    float parts[kMaxClusterSplits];
#pragma unroll
    for (int r = 0; r < kMaxClusterSplits; ++r) {
      parts[r] = r < splits ? *cluster.map_shared_rank(&split_sums[warp][v][lane], r) : 0.0f;
    }
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < kMaxClusterSplits; ++r) {
      if (r < splits) sum += parts[r];
    }
    epilogue.store(row, column, sum);
  }
  cluster.sync();  // every split keeps its shared memory until the others have read it
}

// out[m, j] = alpha * (sum over splits) + bias[j], for j < n; each thread sums kReducedColumns
// adjacent outputs of a row: two 16-byte loads a split (padded_n is a multiple of the 16-row
// strip, the partial sums 16-byte aligned) and one 16-byte store where out's rows keep 16-byte
// alignment, else element stores. One output a thread, with a 64-bit division each, was slower
// than the loads it waited on: H100, bench_fragment_mm, us, the whole call (wgmma kernel and
// reduction) before -> after: M=256 8192 x 8192 61.4 -> 53.6, 6144 x 4096 36.6 -> 30.8; M=128
// 8192 x 8192 55.6 -> 51.9; M=64 8192 x 8192 30.6 -> 29.6.
constexpr int kReducedColumns = 8;
static_assert(kReducedColumns == 8, "a thread's sums of a split are two 16-byte loads");
static_assert(kFragmentRows % kReducedColumns == 0, "a thread's columns lie inside padded_n");

template <typename T>
__global__ void fragment_mm_epilogue_kernel(const float* __restrict__ partial, int64_t splits, int64_t m,
                                            int64_t padded_n, FragmentMmEpilogue<T> epilogue) {
  cuda::wait_for_prior_grids();  // the wgmma kernel's sums
  const int64_t n = epilogue.n, pieces_per_row = (n + kReducedColumns - 1) / kReducedColumns;
  const bool aligned = epilogue.stores_eights();
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < m * pieces_per_row;
       index += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = index / pieces_per_row, column = index % pieces_per_row * kReducedColumns;
    float sums[kReducedColumns] = {};
    for (int64_t s = 0; s < splits; ++s) {  // in split order: deterministic
      const float4* source = reinterpret_cast<const float4*>(partial + partial_sum_offset(s, m, row, padded_n, column));
      const float4 low = source[0], high = source[1];
      sums[0] += low.x, sums[1] += low.y, sums[2] += low.z, sums[3] += low.w;
      sums[4] += high.x, sums[5] += high.y, sums[6] += high.z, sums[7] += high.w;
    }
    alignas(16) T values[kReducedColumns];
#pragma unroll
    for (int e = 0; e < kReducedColumns; ++e) {
      values[e] = column + e < n ? epilogue.finish(sums[e], epilogue.column_of(column + e)) : T{};
    }
    const bool whole = aligned && column + kReducedColumns <= n;
    epilogue.store_eight(row, column, *reinterpret_cast<const uint4*>(values), whole);
  }
}

}  // namespace nvfp4::sm90
