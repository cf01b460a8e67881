// The SM120 (Blackwell GeForce, also SM121) NVFP4 GEMM's configurations (sm1xx/fp4_gemm_traits.cuh):
// one CTA a 128 x 128 tile, no clusters (the architecture has no TMA multicast), warp-level
// block-scaled FP4 MMAs (OMMA.SF.16864 in SASS) with the scales in registers. The cooperative
// schedule over 128-wide K tiles, as CUTLASS's example 79a; for large M the ping-pong schedule over
// 256-wide K tiles, whose two consumer warpgroups overlap one tile's epilogue with the next tile's
// MMAs.
#pragma once

#include "sm1xx/fp4_gemm_traits.cuh"

namespace nvfp4::sm120 {

template <typename ElementOut>
using Fp4GemmCooperative128x128x128 =
    sm1xx::Fp4GemmTraits<cutlass::arch::Sm120, ElementOut, cute::Shape<cute::_128, cute::_128, cute::_128>,
                         cute::Shape<cute::_1, cute::_1, cute::_1>, cutlass::gemm::KernelTmaWarpSpecializedNvf4Sm120,
                         cutlass::epilogue::collective::EpilogueScheduleAuto>;
template <typename ElementOut>
using Fp4GemmPingpong128x128x256 =
    sm1xx::Fp4GemmTraits<cutlass::arch::Sm120, ElementOut, cute::Shape<cute::_128, cute::_128, cute::_256>,
                         cute::Shape<cute::_1, cute::_1, cute::_1>,
                         cutlass::gemm::KernelTmaWarpSpecializedPingpongNvf4Sm120,
                         cutlass::epilogue::collective::EpilogueScheduleAuto>;

}  // namespace nvfp4::sm120
