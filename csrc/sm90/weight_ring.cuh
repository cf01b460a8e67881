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
//
// The ring walks its tiles in order: the next copy's source is carried from tile to tile rather
// than computed from the tile's index, and a missing strip's slots are zeroed once instead of a
// branch at every read (the copy and read ran ~50 of the consumer's ~156 instructions a tile: ncu,
// 64-row tile, v34). Tile i's copy goes to slot (i + kDepth - 1) % kDepth and its read comes from
// slot i % kDepth, which the kernel's loop, unrolled over the slots, makes constants that fold
// into the instructions' offsets.
#pragma once

#include <cstdint>

#include "nvfp4/fragment_layout.h"

namespace nvfp4::sm90 {

constexpr int kWeightSlotBytes = kFragmentTileBytes + 32 * 4;

template <int Depth>
class WeightRing {
 public:
  static constexpr int kDepth = Depth;
  static_assert(kDepth >= 2, "one tile in use and at least one in flight");
  static constexpr int kWarpBytes = kDepth * kWeightSlotBytes;

  // `warp_ring`: this warp's kWarpBytes of shared memory, 16-byte aligned (128-byte aligned, the
  // copies of a quarter of the warp fill whole lines of shared memory); the strip's first tile of
  // the split; `tiles` tiles to copy, none for a missing strip, whose slots read as zero codes.
  // Starts the first kDepth - 1 copies.
  __device__ WeightRing(uint32_t warp_ring, const uint4* strip_codes, const uint16_t* strip_scales, bool exists,
                        int tiles)
      : codes_slot0_(warp_ring + 16 * (threadIdx.x % 32)),
        scales_slot0_(warp_ring + 32 * 16 + 4 * (threadIdx.x % 32)),
        scale_shift_(16 * (threadIdx.x % 2)),
        next_codes_(strip_codes + threadIdx.x % 32),
        next_scale_pair_(reinterpret_cast<const uint32_t*>(strip_scales) + threadIdx.x % 32 / 2),
        copies_left_(exists ? tiles : 0) {
    // Kept in registers: recomputing them from the warp index each tile (what ptxas otherwise
    // chooses) costs more instructions than the registers.
    asm volatile("" : "+r"(codes_slot0_), "+r"(scales_slot0_), "+r"(scale_shift_));
    if (!exists) {
#pragma unroll
      for (int slot = 0; slot < kDepth; ++slot) {
        asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(codes_slot0_ + slot * kWeightSlotBytes),
                     "r"(0u)
                     : "memory");
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(scales_slot0_ + slot * kWeightSlotBytes), "r"(0u) : "memory");
      }
    }
#pragma unroll
    for (int slot = 0; slot < kDepth - 1; ++slot) copy_into(slot);
  }

  // Starts copying the next tile into `slot` and closes a cp.async group, empty past the last
  // tile: the groups stay one a tile, which read() counts on.
  __device__ __forceinline__ void copy_into(int slot) {
    if (copies_left_ > 0) {
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(codes_slot0_ + slot * kWeightSlotBytes),
                   "l"(next_codes_)
                   : "memory");
      asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(scales_slot0_ + slot * kWeightSlotBytes),
                   "l"(next_scale_pair_)
                   : "memory");
      next_codes_ += 32, next_scale_pair_ += 16, --copies_left_;
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
  }

  // The code word and scale bytes (row g's in the low byte) of the tile in `slot`, once its copy
  // has landed. That tile's group is the kDepth-th newest of this lane: the kDepth - 1 copies
  // issued after it may still run.
  __device__ __forceinline__ void read(int slot, uint4& tile_codes, uint32_t& tile_scales) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kDepth - 1) : "memory");
    uint32_t pair;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(tile_codes.x), "=r"(tile_codes.y), "=r"(tile_codes.z), "=r"(tile_codes.w)
                 : "r"(codes_slot0_ + slot * kWeightSlotBytes)
                 : "memory");
    asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(pair) : "r"(scales_slot0_ + slot * kWeightSlotBytes) : "memory");
    tile_scales = pair >> scale_shift_;
  }

 private:
  uint32_t codes_slot0_;   // this lane's code word in slot 0 (shared address)
  uint32_t scales_slot0_;  // this lane's scale pair in slot 0
  int scale_shift_;        // 16 for odd lanes: their scales are the pair's high half
  const uint4* next_codes_;          // this lane's code word of the next tile to copy
  const uint32_t* next_scale_pair_;  // the scale pair holding this lane's scales, same tile
  int copies_left_;                  // tiles not yet copied
};

}  // namespace nvfp4::sm90
