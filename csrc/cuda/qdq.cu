// CUDA kernels of nvfp4_qdq: each 16-bit value becomes e2m1 * sf of its block (no 1/gs), exact
// in the input's dtype, through the encoding of quantize_block.cuh.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/device_convert.cuh"
#include "cuda/launch.h"
#include "cuda/quantize_block.cuh"
#include "dtype_dispatch.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

constexpr int kThreads = 256;

// 16-byte-aligned input and output: lane groups (LaneGroup) share each block; one 16-byte load
// and one 16-byte store per lane.
template <typename T>
__global__ void __launch_bounds__(kThreads) qdq_coalesced_kernel(const T* __restrict__ input,
                                                                 const float* __restrict__ global_scale,
                                                                 int64_t blocks, T* __restrict__ out) {
  using Group = LaneGroup<T>;
  const float gs = *global_scale;
  const int64_t total = blocks * Group::kLanes;  // one item per lane: 16 bytes of the input
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(input) + index);
    float values[Group::kValues];
    lane_values<T>(raw, values);
    bool valid;
    const BlockScale scale = group_block_scale<T>(values, gs, valid);
    const uint32_t codes = valid ? encode_values(values, scale.inverse) : 0;
    const float decoded_scale = e4m3_to_float(scale.byte);
    uint4 result;
    T* elements = reinterpret_cast<T*>(&result);
#pragma unroll
    for (int i = 0; i < Group::kValues; ++i) {
      elements[i] = from_float<T>(e2m1_to_float((codes >> (4 * i)) & 0xF) * decoded_scale);
    }
    reinterpret_cast<uint4*>(out)[index] = result;
  }
}

// Any alignment: one thread per block, element loads and stores.
template <typename T>
__global__ void __launch_bounds__(kThreads) qdq_unaligned_kernel(const T* __restrict__ input,
                                                                 const float* __restrict__ global_scale,
                                                                 int64_t blocks, T* __restrict__ out) {
  const float gs = *global_scale;
  for (int64_t block = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; block < blocks;
       block += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float values[kBlockSize];
    uint8_t codes[kBlockSize];
#pragma unroll
    for (int i = 0; i < kBlockSize; ++i) values[i] = to_float(input[block * kBlockSize + i]);
    const float scale = e4m3_to_float(quantize_block(values, gs, codes));
#pragma unroll
    for (int i = 0; i < kBlockSize; ++i) out[block * kBlockSize + i] = from_float<T>(e2m1_to_float(codes[i]) * scale);
  }
}

void nvfp4_qdq_out(const at::Tensor& input, const at::Tensor& global_scale, at::Tensor& out) {
  const QuantizedLayout layout = check_qdq_args(input, global_scale);
  check_output(out, "out", input.sizes(), input.scalar_type(), input.device());
  const int64_t blocks = layout.rows * layout.real_scale_cols();
  if (blocks == 0) return;
  const c10::cuda::CUDAGuard device_guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = input.contiguous();
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::nvfp4_qdq (CUDA)", [&] {
    using T = typename CudaType<scalar_t>::type;
    const T* values = reinterpret_cast<const T*>(x.const_data_ptr<scalar_t>());
    T* out_data = reinterpret_cast<T*>(out.mutable_data_ptr<scalar_t>());
    const float* gs = global_scale.const_data_ptr<float>();
    if (is_aligned(values, 16) && is_aligned(out_data, 16)) {
      const int64_t grid = grid_size(blocks * LaneGroup<T>::kLanes, kThreads, input.get_device());
      qdq_coalesced_kernel<T><<<grid, kThreads, 0, stream>>>(values, gs, blocks, out_data);
    } else {
      const int64_t grid = grid_size(blocks, kThreads, input.get_device());
      qdq_unaligned_kernel<T><<<grid, kThreads, 0, stream>>>(values, gs, blocks, out_data);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

at::Tensor nvfp4_qdq(const at::Tensor& input, const at::Tensor& global_scale) {
  check_qdq_args(input, global_scale);
  at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  nvfp4_qdq_out(input, global_scale, out);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) {
  m.impl("nvfp4_qdq", &nvfp4_qdq);
  m.impl("nvfp4_qdq.out", &nvfp4_qdq_out);
}

}  // namespace nvfp4::cuda
