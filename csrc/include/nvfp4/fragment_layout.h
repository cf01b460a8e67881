// The weight layout of the Hopper W4A16 GEMM ("fragment layout"), which
// prepare_weights_for_nvfp4_sm90 (nvfp4/layout.py) writes: the packed codes and the E4M3 block
// scales reordered so that each lane of a warp reads, with one 16-byte load, exactly the codes
// of its mma.m16n8k16 A fragments (and of a wgmma A fragment, which has the same per-warp
// layout) for four k16 steps, and with one 8-byte load their block scales. Torch-free,
// host+device.
//
// The weight is cut into tiles of 16 rows (a "strip") by 64 columns (four k16 steps); tiles are
// stored strip by strip, K-tiles in order within a strip. In a tile, lane l (group g = l / 4,
// thread t = l % 4) owns 16 bytes: for step s = 0..3, one 32-bit word with the codes of its A
// registers a0..a3, register r holding the two codes of one checkpoint byte (c_2r its low
// nibble, the even k; c_2r+1 its high nibble):
//   a0: row g,     k 16s + 2t (+1)      a1: row g + 8, k 16s + 2t (+1)
//   a2: row g,     k 16s + 2t + 8 (+1)  a3: row g + 8, k 16s + 2t + 8 (+1)
// The word keeps the magnitude (bits 0..2) of c_i in bits 4i..4i+2, so a byte permute with
// 0x7777 as selector looks up four 16-bit magnitudes at once, and puts the sign bits in the
// slots 4j + 3 in the order c0, c2, c4, c6, c1, c3, c5, c7, so that register r's two signs sit
// 16 bits apart and one shift by 12 - 4r takes both to bits 15 and 31.
// The tile's 64 scale bytes hold, for group g, step s: the scale of row g, then of row g + 8.
#pragma once

#include <cstdint>

#include "nvfp4/format.h"

namespace nvfp4 {

constexpr int64_t kFragmentRows = 16;  // weight rows (N) of a tile
constexpr int64_t kFragmentK = 64;     // weight columns (K) of a tile: four k16 steps
constexpr int64_t kFragmentSteps = kFragmentK / kBlockSize;
constexpr int64_t kFragmentTileBytes = kFragmentRows * kFragmentK / 2;          // 512 code bytes
constexpr int64_t kFragmentTileScales = kFragmentRows * kFragmentK / kBlockSize;  // 64 scale bytes

// Padded sizes of an [n, k] weight in the fragment layout.
NVFP4_HOST_DEVICE int64_t fragment_padded_rows(int64_t n) { return round_up(n, kFragmentRows); }
NVFP4_HOST_DEVICE int64_t fragment_padded_k(int64_t k) { return round_up(k, kFragmentK); }

// The code slot whose sign bit sits in slot j (bit 4j + 3) of a word.
constexpr int kSignSlotCodes[8] = {0, 2, 4, 6, 1, 3, 5, 7};

// The 4-bit E2M1 code of weight element (row, k) of a weight in the fragment layout with
// `k_tiles` tiles per strip, on the host: the layout's definition read backwards (the C++
// benchmark's reference; nvfp4/layout.py writes it, and the GEMM tests tie the two together).
inline uint8_t fragment_code(const uint8_t* weight, int64_t k_tiles, int64_t row, int64_t k) {
  const int64_t strip = row / kFragmentRows, tile = k / kFragmentK, step = (k % kFragmentK) / kBlockSize;
  const int64_t group = row % 8, h = (row % kFragmentRows) / 8, in_step = k % kBlockSize;
  const int64_t thread = (in_step % 8) / 2, register_index = 2 * (in_step / 8) + h;
  const int code = static_cast<int>(2 * register_index + in_step % 2);
  const uint8_t* word = weight + ((strip * k_tiles + tile) * 32 + group * 4 + thread) * 16 + step * 4;
  const uint32_t bits = word[0] | (word[1] << 8) | (word[2] << 16) | (static_cast<uint32_t>(word[3]) << 24);
  int slot = 0;
  while (kSignSlotCodes[slot] != code) ++slot;
  return static_cast<uint8_t>(((bits >> (4 * code)) & 0x7u) | (((bits >> (4 * slot + 3)) & 0x1u) << 3));
}

// The E4M3 block-scale byte of weight element (row, k) in the fragment layout.
inline uint8_t fragment_scale(const uint8_t* weight_scale, int64_t k_tiles, int64_t row, int64_t k) {
  const int64_t strip = row / kFragmentRows, tile = k / kFragmentK, step = (k % kFragmentK) / kBlockSize;
  const int64_t group = row % 8, h = (row % kFragmentRows) / 8;
  return weight_scale[((strip * k_tiles + tile) * 8 + group) * 8 + step * 2 + h];
}

}  // namespace nvfp4

