// The quantize kernel of scaled_fp4_quant, torch-free (the C++ benchmark includes it too). One
// thread per stored block of 16 values, in one pass: max, E4M3 scale, E2M1 codes, the scale
// written straight to its swizzled or linear offset, and every padding byte (rows up to 128,
// scale columns up to 4, padded K) written as zero, so the outputs may come from uninitialised
// memory. Bytes equal the CPU kernel's (DESIGN.md section 1).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/quantize_block.cuh"
#include "nvfp4/layout.h"

namespace nvfp4::cuda {

constexpr int kQuantizeThreads = 256;

// Grid-stride loop over every stored block scale (scale_rows x scale_cols, padding included).
template <typename T, bool kVectorized, typename Index>
__global__ void __launch_bounds__(kQuantizeThreads)
    quantize_kernel(const T* __restrict__ input, const float* __restrict__ global_scale, QuantizedLayout layout,
                    uint8_t* __restrict__ packed, uint8_t* __restrict__ block_scale) {
  const float gs = *global_scale;
  const Index scale_cols = layout.scale_cols();
  const Index stored_cols = layout.padded_k / kBlockSize;
  const Index real_cols = layout.real_scale_cols();
  const Index rows = layout.rows;
  const Index total = static_cast<Index>(layout.scale_rows()) * scale_cols;
  for (Index index = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index row = index / scale_cols, col = index % scale_cols;
    uint8_t scale_byte = 0;
    if (row < rows && col < stored_cols) {
      uint2 codes = make_uint2(0, 0);  // padded K columns stay zero
      if (col < real_cols) {
        float values[kBlockSize];
        load_block<T, kVectorized>(input + static_cast<int64_t>(row) * layout.k + col * kBlockSize, values);
        codes = encode_block(values, gs, scale_byte);
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
    block_scale[layout.scale_offset(row, col)] = scale_byte;
  }
}

// Launches the kernel over `grid` blocks on `stream`; 32-bit indices where they suffice. `input`
// must be 16-byte aligned and `packed` 8-byte aligned when kVectorized. Returns the launch status.
template <typename T, bool kVectorized>
cudaError_t launch_quantize_kernel(const T* input, const float* global_scale, const QuantizedLayout& layout,
                                   uint8_t* packed, uint8_t* block_scale, int64_t grid, cudaStream_t stream) {
  if (layout.scale_rows() * layout.scale_cols() < (int64_t{1} << 31)) {
    quantize_kernel<T, kVectorized, uint32_t>
        <<<grid, kQuantizeThreads, 0, stream>>>(input, global_scale, layout, packed, block_scale);
  } else {
    quantize_kernel<T, kVectorized, int64_t>
        <<<grid, kQuantizeThreads, 0, stream>>>(input, global_scale, layout, packed, block_scale);
  }
  return cudaGetLastError();
}

}  // namespace nvfp4::cuda
