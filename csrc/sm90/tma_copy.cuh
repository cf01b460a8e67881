// TMA copies of x tiles into shared memory and the mbarriers that hand them over (torch-free),
// for the kernels that read x through a ring of tiles: the wgmma kernel's TMA producer
// (x_stages.cuh) and the split-K kernel (fragment_mm_kernel.cuh).
//
// A tile is 64 values of x (128 bytes: one row of the 128-byte swizzle) by `box_rows` rows: row r
// lands at r * 128 bytes of its slot, its 16-byte chunk c at (c ^ (r % 8)) * 16, so the slot must
// be 1024-byte aligned. Rows past the tensor's and columns past its width arrive as zeros.
#pragma once

#include <cuda.h>  // CUtensorMap
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include <cstdint>
#include <type_traits>

#include "nvfp4/fragment_layout.h"

namespace nvfp4::sm90 {

constexpr int kXRowBytes = kFragmentK * 2;  // one 64-wide tile row of 16-bit x: one swizzle row
constexpr int kXRowChunks = kXRowBytes / 16;  // its 16-byte chunks
constexpr int kTmaSlotAlignment = 1024;       // the 128-byte swizzle repeats every 8 rows

// The byte offset of row r's 16-byte chunk c in a tile copied with the 128-byte swizzle.
__host__ __device__ constexpr uint32_t swizzled_chunk_offset(int row, int chunk) {
  return static_cast<uint32_t>(row * kXRowBytes + ((chunk ^ (row % 8)) << 4));
}

// mbarriers in shared memory (8 bytes each), by shared-space address.
__device__ __forceinline__ void mbarrier_init(uint32_t barrier, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(barrier), "r"(arrivals) : "memory");
}
// Once after the initialisations, before the barrier that publishes them: visible to the async proxy.
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// One arrival that also expects `bytes` of copies to complete the phase.
__device__ __forceinline__ void mbarrier_arrive_expect(uint32_t barrier, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barrier), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint32_t barrier) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(barrier) : "memory");
}
// Waits until the phase of the given parity has completed.
__device__ __forceinline__ void mbarrier_wait(uint32_t barrier, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n}\n" ::"r"(barrier),
      "r"(parity)
      : "memory");
}

// TMA: the tile at (column, row) into shared memory, completing `barrier`'s transaction count.
__device__ __forceinline__ void copy_x_tile(const CUtensorMap& x_map, uint32_t destination, uint32_t barrier,
                                            int32_t column, int32_t row) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          destination),
      "l"(reinterpret_cast<uint64_t>(&x_map)), "r"(column), "r"(row), "r"(barrier)
      : "memory");
}

// x, [rows, columns] 16-bit values of type T with `row_bytes` between rows (a multiple of 16, the
// base 16-byte aligned), as a TMA tensor map of 64 x `box_rows` tiles with the 128-byte swizzle.
template <typename T>
cudaError_t make_x_tensor_map(CUtensorMap* map, const T* x, int64_t rows, int64_t columns, int64_t row_bytes,
                              int box_rows) {
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
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(columns), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(row_bytes)};
  const cuuint32_t box[2] = {kFragmentK, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUtensorMapDataType type =
      std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult result = encode(map, type, 2, const_cast<T*>(x), dims, strides, box, element_strides,
                                 CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return result == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

}  // namespace nvfp4::sm90
