// The quantize kernel of scaled_fp4_quant, torch-free (the C++ benchmark includes it too). One
// thread per stored block of 16 values, in one pass: max, E4M3 scale, E2M1 codes, the scale
// written straight to its swizzled or linear offset, and every padding byte (rows up to 128,
// scale columns up to 4, padded K) written as zero, so the outputs may come from uninitialised
// memory. Bytes equal the CPU kernel's (DESIGN.md section 1); quantize_block.cuh says how the
// per-block work is kept small enough for the kernel to run at the memory's pace.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/quantize_block.cuh"
#include "nvfp4/layout.h"

namespace nvfp4::cuda {

constexpr int kQuantizeThreads = 256;
// Resident CTAs per multiprocessor the grid aims for: half the H100's 2048 threads. Measured on
// an H100 (benchmarks/NOTES.md, v5): 8 CTAs (full occupancy) are 8% slower on [16384, 14336]
// and at most 1% faster on the smaller shapes.
constexpr int kQuantizeBlocksPerMultiprocessor = 4;

// Grid-stride loop over every stored block scale (scale_rows x scale_cols, padding included),
// row and column stepped without a division: the stride is `stride_rows` whole rows plus
// `stride_cols` (< scale_cols) columns.
template <typename T, bool kVectorized, typename Index>
__global__ void __launch_bounds__(kQuantizeThreads)
    quantize_kernel(const T* __restrict__ input, const float* __restrict__ global_scale, QuantizedLayout layout,
                    Index stride_rows, Index stride_cols, uint8_t* __restrict__ packed,
                    uint8_t* __restrict__ block_scale) {
  __shared__ float inverse_table[kScaleTableSize];
  const float gs = *global_scale;
  const bool gs_valid = is_valid_global_scale(gs);
  fill_inverse_table(inverse_table, gs);
  const Index scale_rows = layout.scale_rows(), scale_cols = layout.scale_cols();
  const Index stored_cols = layout.padded_k / kBlockSize, real_cols = layout.real_scale_cols();
  const Index rows = layout.rows;
  const Index first = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x;
  Index row = first / scale_cols, col = first % scale_cols;
  while (row < scale_rows) {
    uint8_t scale_byte = 0;
    if (row < rows && col < stored_cols) {
      uint2 codes = make_uint2(0, 0);  // padded K columns stay zero
      if (col < real_cols) {
        BlockBits<T> block;
        load_block<T, kVectorized>(input + static_cast<int64_t>(row) * layout.k + col * kBlockSize, block);
        float inverse;
        if (encode_scale(block, gs, gs_valid, inverse_table, scale_byte, inverse)) codes = encode_codes(block, inverse);
      }
      uint8_t* destination = packed + static_cast<int64_t>(row) * layout.packed_cols() + col * (kBlockSize / 2);
      if constexpr (kVectorized) {
        *reinterpret_cast<uint2*>(destination) = codes;
      } else {
        const uint32_t words[2] = {codes.x, codes.y};
#pragma unroll
        for (int i = 0; i < kBlockSize / 2; ++i) destination[i] = static_cast<uint8_t>(words[i / 4] >> (8 * (i % 4)));
      }
    }
    block_scale[layout.scale_offset<Index>(row, col)] = scale_byte;
    row += stride_rows, col += stride_cols;
    if (col >= scale_cols) col -= scale_cols, ++row;
  }
}

// Launches the kernel over `grid` blocks on `stream`; 32-bit indices where they suffice. `input`
// must be 16-byte aligned and `packed` 8-byte aligned when kVectorized. Returns the launch status.
template <typename T, bool kVectorized>
cudaError_t launch_quantize_kernel(const T* input, const float* global_scale, const QuantizedLayout& layout,
                                   uint8_t* packed, uint8_t* block_scale, int64_t grid, cudaStream_t stream) {
  const int64_t scale_cols = layout.scale_cols(), stride = grid * kQuantizeThreads;
  // 32-bit indices when every index the loop reaches (up to the last one plus a stride) fits.
  if (layout.scale_rows() * scale_cols + stride < (int64_t{1} << 32)) {
    quantize_kernel<T, kVectorized, uint32_t><<<grid, kQuantizeThreads, 0, stream>>>(
        input, global_scale, layout, static_cast<uint32_t>(stride / scale_cols), static_cast<uint32_t>(stride % scale_cols),
        packed, block_scale);
  } else {
    quantize_kernel<T, kVectorized, int64_t><<<grid, kQuantizeThreads, 0, stream>>>(
        input, global_scale, layout, stride / scale_cols, stride % scale_cols, packed, block_scale);
  }
  return cudaGetLastError();
}

}  // namespace nvfp4::cuda
