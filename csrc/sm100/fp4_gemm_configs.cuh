// The SM100 (Blackwell datacenter) NVFP4 GEMM's configurations (sm1xx/fp4_gemm_traits.cuh), by the
// batch sizes they serve: one SM an MMA for small M; a pair of SMs for larger M (the block-scaled
// tcgen05.mma, UTCOMMA.4X and UTCOMMA.2CTA.4X in SASS), with a wider N for the largest.
#pragma once

#include "sm1xx/fp4_gemm_traits.cuh"

namespace nvfp4::sm100 {

template <typename ElementOut>
using Fp4Gemm1Sm128x128 = sm1xx::Fp4GemmTraits<cutlass::arch::Sm100, ElementOut,
                                               cute::Shape<cute::_128, cute::_128, cute::_256>,
                                               cute::Shape<cute::_1, cute::_1, cute::_1>,
                                               cutlass::gemm::KernelTmaWarpSpecialized1SmNvf4Sm100,
                                               cutlass::epilogue::TmaWarpSpecialized1Sm>;
template <typename ElementOut>
using Fp4Gemm2Sm256x128 = sm1xx::Fp4GemmTraits<cutlass::arch::Sm100, ElementOut,
                                               cute::Shape<cute::_256, cute::_128, cute::_256>,
                                               cute::Shape<cute::_2, cute::_1, cute::_1>,
                                               cutlass::gemm::KernelTmaWarpSpecialized2SmNvf4Sm100,
                                               cutlass::epilogue::TmaWarpSpecialized2Sm>;
template <typename ElementOut>
using Fp4Gemm2Sm256x256 = sm1xx::Fp4GemmTraits<cutlass::arch::Sm100, ElementOut,
                                               cute::Shape<cute::_256, cute::_256, cute::_256>,
                                               cute::Shape<cute::_2, cute::_1, cute::_1>,
                                               cutlass::gemm::KernelTmaWarpSpecialized2SmNvf4Sm100,
                                               cutlass::epilogue::TmaWarpSpecialized2Sm>;

}  // namespace nvfp4::sm100
