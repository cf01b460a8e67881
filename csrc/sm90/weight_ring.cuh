// The wgmma kernel's weight ring (fragment_wgmma_kernel.cuh), torch-free: each consumer warp
// copies its strip's tiles into its own slots of shared memory with cp.async, kDepth - 1 tiles
// ahead of the tile it multiplies.
//
// Why: a consumer warp's work on one tile (four k16 steps of m64n64 at 64 batch rows) takes far
// less time than a read from DRAM, so a weight prefetched one tile ahead into registers leaves the
// warp waiting for it, and deeper register prefetch costs the registers that keep two CTAs on a
// multiprocessor (benchmarks/NOTES.md: v17, and the two-tiles-ahead row before v13). In shared
// memory the bytes in flight cost no registers. Each lane copies, and later reads, only its own
// bytes: no barrier between lanes.
//
// A slot holds one tile of the warp's strip: the 32 lanes' 16-byte code words, then for each lane
// the 4-byte aligned scale pair that holds its 2 scale bytes (lanes 2j and 2j + 1 copy the same
// pair, each into its own place).
#pragma once

#include <cstdint>

#include "nvfp4/fragment_layout.h"

namespace nvfp4::sm90 {

constexpr int kWeightSlotBytes = kFragmentTileBytes + 32 * 4;

template <int Depth>
struct WeightRing {
  static constexpr int kDepth = Depth;
  static_assert(kDepth >= 2, "one tile in use and at least one in flight");
  static constexpr int kWarpBytes = kDepth * kWeightSlotBytes;

  uint32_t codes_slot0;   // this lane's code word in slot 0 (shared address)
  uint32_t scales_slot0;  // this lane's scale pair in slot 0
  const uint4* codes;     // this lane's code word of the strip's first tile of the split
  const uint32_t* scale_pairs;  // the scale pair holding this lane's scales, same tile
  int scale_shift;        // 16 for odd lanes: their scales are the pair's high half
  bool strip_exists;      // a missing strip copies nothing and reads zero codes

  // `warp_ring`: this warp's kWarpBytes of shared memory, 16-byte aligned (128-byte aligned, the
  // copies of a quarter of the warp fill whole lines of shared memory).
  __device__ WeightRing(uint32_t warp_ring, const uint4* strip_codes, const uint16_t* strip_scales, bool exists)
      : codes_slot0(warp_ring + 16 * (threadIdx.x % 32)),
        scales_slot0(warp_ring + 32 * 16 + 4 * (threadIdx.x % 32)),
        codes(strip_codes + threadIdx.x % 32),
        scale_pairs(reinterpret_cast<const uint32_t*>(strip_scales) + threadIdx.x % 32 / 2),
        scale_shift(16 * (threadIdx.x % 2)),
        strip_exists(exists) {}

  // Starts copying tile i (of the split) into slot i % kDepth and closes a cp.async group, empty
  // when there is nothing to copy: the groups stay one a tile, which read() counts on.
  __device__ __forceinline__ void copy(int i, int tiles) const {
    if (i < tiles && strip_exists) {
      const uint32_t slot = (i % kDepth) * kWeightSlotBytes;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(codes_slot0 + slot), "l"(codes + 32 * i)
                   : "memory");
      asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(scales_slot0 + slot),
                   "l"(scale_pairs + 16 * i)
                   : "memory");
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
  }

  // The first kDepth - 1 tiles in flight.
  __device__ __forceinline__ void start(int tiles) const {
#pragma unroll
    for (int i = 0; i < kDepth - 1; ++i) copy(i, tiles);
  }

  // Tile i's code word and scale bytes (row g's in the low byte), once its copy has landed. Tile i's
  // group is the (i + 1)-th of this lane; the copy of tile i + kDepth - 1, issued just before,
  // may still run along with the kDepth - 2 before it.
  __device__ __forceinline__ void read(int i, uint4& tile_codes, uint32_t& tile_scales) const {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kDepth - 1) : "memory");
    if (!strip_exists) {
      tile_codes = make_uint4(0, 0, 0, 0), tile_scales = 0;
      return;
    }
    const uint32_t slot = (i % kDepth) * kWeightSlotBytes;
    uint32_t pair;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(tile_codes.x), "=r"(tile_codes.y), "=r"(tile_codes.z), "=r"(tile_codes.w)
                 : "r"(codes_slot0 + slot)
                 : "memory");
    asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(pair) : "r"(scales_slot0 + slot) : "memory");
    tile_scales = pair >> scale_shift;
  }
};

}  // namespace nvfp4::sm90
