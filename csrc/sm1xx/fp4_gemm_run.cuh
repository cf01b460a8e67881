// One call of the Blackwell NVFP4 GEMM (fp4_gemm_traits.cuh; SM100 and SM120 alike) from raw
// pointers, torch-free: CUTLASS's arguments for a configuration, its workspace size, and the checks
// and launch on a stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "sm1xx/fp4_gemm_traits.cuh"

namespace nvfp4::sm1xx {

// out [m, n] = alpha * (A @ B^T) + bias, everything on the device: A [m, k] and B [n, k] as E2M1
// codes (two a byte, the first in the low nibble; rows of k / 2 bytes), their block scales in the
// swizzled layout (DESIGN.md section 2: [roundup(rows, 128), roundup(k / 16, 4)] E4M3 bytes, every
// padded byte zero), alpha one fp32 value or n of them, bias n values or none, out row-major. k is
// a multiple of 32 and n of 8 (16-byte rows); CUTLASS's can_implement says so too.
template <typename ElementOut>
struct Fp4GemmProblem {
  int m;
  int n;
  int k;
  const void* a;
  const void* b;
  const void* a_scales;
  const void* b_scales;
  const float* alpha;
  bool alpha_per_column;
  const ElementOut* bias;
  ElementOut* out;
};

// CUTLASS's arguments for `problem` on a GPU of `multiprocessors` SMs (device `device`).
template <typename Traits>
typename Traits::Gemm::Arguments make_arguments(const Fp4GemmProblem<typename Traits::ElementOut>& problem,
                                                int device, int multiprocessors) {
  using Gemm = typename Traits::Gemm;
  using Kernel = typename Gemm::GemmKernel;
  using Mainloop = typename Kernel::CollectiveMainloop;
  using Epilogue = typename Kernel::CollectiveEpilogue;
  const int64_t m = problem.m, n = problem.n, k = problem.k;
  const auto shape = cute::make_shape(problem.m, problem.n, problem.k, 1);
  // Packed strides in elements over (rows, K or N, batch).
  const typename Kernel::StrideA stride_a = cute::make_stride(k, cute::Int<1>{}, m * k);
  const typename Kernel::StrideB stride_b = cute::make_stride(k, cute::Int<1>{}, n * k);
  const typename Epilogue::StrideD stride_out = cute::make_stride(n, cute::Int<1>{}, m * n);
  typename Gemm::Arguments arguments{
      cutlass::gemm::GemmUniversalMode::kGemm,
      {problem.m, problem.n, problem.k, 1},
      {static_cast<const typename Mainloop::ElementA*>(problem.a), stride_a,
       static_cast<const typename Mainloop::ElementB*>(problem.b), stride_b,
       static_cast<const typename Mainloop::ElementSF*>(problem.a_scales),
       Traits::ScaleConfig::tile_atom_to_shape_SFA(shape),
       static_cast<const typename Mainloop::ElementSF*>(problem.b_scales),
       Traits::ScaleConfig::tile_atom_to_shape_SFB(shape)},
      {{}, nullptr, stride_out, problem.out, stride_out}};
  auto& epilogue = arguments.epilogue.thread;
  epilogue.alpha_ptr = problem.alpha;
  epilogue.dAlpha = {cute::_0{}, problem.alpha_per_column, 0};  // a value a column, or one for all
  epilogue.beta = 0.0f;
  epilogue.bias_ptr = problem.bias;
  arguments.hw_info.device_id = device;
  arguments.hw_info.sm_count = multiprocessors;
  return arguments;
}

// The bytes of device workspace a call with `arguments` needs (often none).
template <typename Traits>
size_t workspace_bytes(const typename Traits::Gemm::Arguments& arguments) {
  return Traits::Gemm::get_workspace_size(arguments);
}

// Whether this binary holds machine code of the configuration's kernel for the current device:
// cudaSuccess, or the CUDA runtime's reason (cudaErrorNoKernelImageForDevice where the build's
// targets do not run on it: sm_100a code on a 10.3 GPU; the family target sm_100f does).
template <typename Traits>
cudaError_t kernel_image_status() {
  cudaFuncAttributes attributes{};
  const cudaError_t status =
      cudaFuncGetAttributes(&attributes, cutlass::device_kernel<typename Traits::Gemm::GemmKernel>);
  if (status != cudaSuccess) cudaGetLastError();  // the answer, not a failure of the calls that follow
  return status;
}

// Checks `arguments` (can_implement), then runs the GEMM on `stream` with `workspace` of
// workspace_bytes(arguments) bytes.
template <typename Traits>
cutlass::Status run_fp4_gemm(const typename Traits::Gemm::Arguments& arguments, void* workspace, cudaStream_t stream) {
  typename Traits::Gemm gemm;
  if (const cutlass::Status status = gemm.can_implement(arguments); status != cutlass::Status::kSuccess) return status;
  if (const cutlass::Status status = gemm.initialize(arguments, workspace, stream);
      status != cutlass::Status::kSuccess) {
    return status;
  }
  return gemm.run(stream);
}

}  // namespace nvfp4::sm1xx
