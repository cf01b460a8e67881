// CUDA kernel of dequantize: out = cast((e2m1 * sf) / gs), DESIGN.md section 1. One thread per
// block of 16 values: one 8-byte load of codes, one scale byte, 16-byte stores.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/cuda_type.h"
#include "cuda/device_convert.cuh"
#include "cuda/launch.h"
#include "dtype_dispatch.h"
#include "nvfp4/layout.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, bool kVectorized>
__global__ void __launch_bounds__(kThreads)
    dequantize_kernel(const uint8_t* __restrict__ packed, const uint8_t* __restrict__ block_scale,
                      const float* __restrict__ global_scale, QuantizedLayout layout, T* __restrict__ out) {
  const float gs = *global_scale;
  const int64_t blocks_per_row = layout.real_scale_cols();
  const int64_t total = layout.rows * blocks_per_row;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = index / blocks_per_row, col = index % blocks_per_row;
    const uint8_t* codes = packed + row * layout.packed_cols() + col * (kBlockSize / 2);
    uint8_t bytes[kBlockSize / 2];
    if constexpr (kVectorized) {
      const uint2 word = __ldg(reinterpret_cast<const uint2*>(codes));
      *reinterpret_cast<uint2*>(bytes) = word;
    } else {
#pragma unroll
      for (int i = 0; i < kBlockSize / 2; ++i) bytes[i] = codes[i];
    }
    const uint8_t scale_byte = block_scale[layout.scale_offset(row, col)];
    alignas(16) T values[kBlockSize];  // stored as 16-byte vectors
#pragma unroll
    for (int i = 0; i < kBlockSize / 2; ++i) {
      values[2 * i] = from_float<T>(dequantize_value(bytes[i] & 0xF, scale_byte, gs));
      values[2 * i + 1] = from_float<T>(dequantize_value(bytes[i] >> 4, scale_byte, gs));
    }
    T* destination = out + row * layout.k + col * kBlockSize;
    if constexpr (kVectorized) {
      constexpr int kVectors = kBlockSize * sizeof(T) / 16;
#pragma unroll
      for (int v = 0; v < kVectors; ++v) reinterpret_cast<uint4*>(destination)[v] = reinterpret_cast<uint4*>(values)[v];
    } else {
#pragma unroll
      for (int i = 0; i < kBlockSize; ++i) destination[i] = values[i];
    }
  }
}

void dequantize_out(const at::Tensor& packed, const at::Tensor& block_scale, const at::Tensor& global_scale,
                    bool swizzled, at::ScalarType out_dtype, at::Tensor& out) {
  const QuantizedLayout layout = check_dequantize_args(packed, block_scale, global_scale, swizzled, out_dtype);
  check_output(out, "out", {layout.rows, layout.k}, out_dtype, packed.device());
  if (out.numel() == 0) return;
  check_supported_device(packed.get_device(), "dequantize");
  const c10::cuda::CUDAGuard device_guard(packed.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const auto* packed_data = static_cast<const uint8_t*>(packed.const_data_ptr());
  const auto* scale_data = static_cast<const uint8_t*>(block_scale.const_data_ptr());
  const int64_t grid = grid_size(layout.rows * layout.real_scale_cols(), kThreads, packed.get_device());
  NVFP4_DISPATCH_FLOAT_TYPES(out_dtype, "nvfp4::dequantize (CUDA)", [&] {
    using T = typename CudaType<scalar_t>::type;
    T* out_data = reinterpret_cast<T*>(out.mutable_data_ptr<scalar_t>());
    const float* gs = global_scale.const_data_ptr<float>();
    if (is_aligned(packed_data, 8) && is_aligned(out_data, 16)) {
      dequantize_kernel<T, true><<<grid, kThreads, 0, stream>>>(packed_data, scale_data, gs, layout, out_data);
    } else {
      dequantize_kernel<T, false><<<grid, kThreads, 0, stream>>>(packed_data, scale_data, gs, layout, out_data);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) {
  m.impl("dequantize.out", &dequantize_out);
}

}  // namespace nvfp4::cuda
