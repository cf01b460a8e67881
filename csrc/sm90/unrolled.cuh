// Loops unrolled over compile-time positions (torch-free): the GEMM kernels run their rings a whole
// turn at a time, so that each tile's slot, barrier and offsets are constants that fold into the
// instructions, and share one body with the loop that runs the last tiles with the position an int.
#pragma once

#include <type_traits>
#include <utility>

namespace nvfp4::sm90 {

// f(std::integral_constant<int, k>{}) for each k of the sequence, in order.
template <typename F, int... kValues>
__device__ __forceinline__ void for_each_constant(F&& f, std::integer_sequence<int, kValues...>) {
  (f(std::integral_constant<int, kValues>{}), ...);
}

// A position that is a std::integral_constant in the unrolled loop and an int in the other, as an
// int (a constant after inlining where it is one).
template <int kValue>
__host__ __device__ constexpr int value_of(std::integral_constant<int, kValue>) {
  return kValue;
}
__host__ __device__ constexpr int value_of(int value) { return value; }

}  // namespace nvfp4::sm90
