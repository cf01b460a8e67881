// CUDA kernel of nvfp4_qdq: each 16-bit value becomes e2m1 * sf of its block (no 1/gs), exact in
// the input's dtype. One thread per block of 16: two 16-byte loads, the scale step of
// quantize_block.cuh, each value rounded to its code and back to the code's magnitude in fp32
// operations, two 16-byte stores.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda/cuda_type.h"
#include "cuda/dependent_launch.cuh"
#include "cuda/device_convert.cuh"
#include "cuda/launch.h"
#include "cuda/quantize_block.cuh"
#include "dtype_dispatch.h"
#include "op_checks.h"

namespace nvfp4::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, bool kVectorized>
__global__ void __launch_bounds__(kThreads)
    qdq_kernel(const T* __restrict__ input, const float* __restrict__ global_scale, int64_t blocks,
               T* __restrict__ out) {
  // A GEMM launched as a programmatic dependent (the Hopper GEMM in W4A4 mode) may start now and
  // load its weight while this rounds its activations; it waits for this kernel before reading x.
  allow_dependent_grids();
  // This kernel is itself a programmatic dependent of the kernel before it (compute capability 9.0
  // and later): it starts as that kernel's blocks exit and waits here until it has completed, as
  // the input or gs may be its output.
  wait_for_prior_grids();
  const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  // Each thread loads its next block one iteration ahead; the first load goes out before gs is
  // read and the table built, so that with one block a thread (decode batches) their latencies
  // overlap instead of adding up.
  BlockBits<T> next;
  if (first < blocks) load_block<T, kVectorized>(input + first * kBlockSize, next);
  __shared__ float inverse_table[kScaleTableSize];
  const float gs = *global_scale;
  const bool gs_valid = is_valid_global_scale(gs);
  fill_inverse_table(inverse_table, gs);
  for (int64_t index = first; index < blocks; index += stride) {
    const BlockBits<T> block = next;
    if (index + stride < blocks) load_block<T, kVectorized>(input + (index + stride) * kBlockSize, next);
    alignas(16) T results[kBlockSize];  // stored as 16-byte vectors
    qdq_block(block, gs, gs_valid, inverse_table, results);
    T* destination = out + index * kBlockSize;
    if constexpr (kVectorized) {
#pragma unroll
      for (int v = 0; v < kBlockSize * sizeof(T) / 16; ++v) {
        reinterpret_cast<uint4*>(destination)[v] = reinterpret_cast<const uint4*>(results)[v];
      }
    } else {
#pragma unroll
      for (int i = 0; i < kBlockSize; ++i) destination[i] = results[i];
    }
  }
}

void nvfp4_qdq_out(const at::Tensor& input, const at::Tensor& global_scale, at::Tensor& out) {
  const QuantizedLayout layout = check_qdq_args(input, global_scale);
  check_output(out, "out", input.sizes(), input.scalar_type(), input.device());
  const int64_t blocks = layout.rows * layout.real_scale_cols();
  if (blocks == 0) return;
  check_supported_device(input.get_device(), "nvfp4_qdq");
  const c10::cuda::CUDAGuard device_guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = input.contiguous();
  const int64_t grid = grid_size(blocks, kThreads, input.get_device());
  NVFP4_DISPATCH_FLOAT_TYPES(x.scalar_type(), "nvfp4::nvfp4_qdq (CUDA)", [&] {
    using T = typename CudaType<scalar_t>::type;
    const T* values = reinterpret_cast<const T*>(x.const_data_ptr<scalar_t>());
    T* out_data = reinterpret_cast<T*>(out.mutable_data_ptr<scalar_t>());
    const float* gs = global_scale.const_data_ptr<float>();
    const bool vectorized = is_aligned(values, 16) && is_aligned(out_data, 16);
    const auto kernel = vectorized ? qdq_kernel<T, true> : qdq_kernel<T, false>;
    C10_CUDA_CHECK(launch_dependent_if(has_dependent_launch(input.get_device()), kernel,
                                       dim3(static_cast<unsigned>(grid)), dim3(kThreads), 0, stream, values, gs,
                                       blocks, out_data));
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nvfp4, CUDA, m) {
  m.impl("nvfp4_qdq.out", &nvfp4_qdq_out);
}

}  // namespace nvfp4::cuda
