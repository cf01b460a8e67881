// Launch helpers shared by the architecture-neutral CUDA kernels.
#pragma once

#include <cstdint>

namespace nvfp4::cuda {

// Raises a clear error for a GPU older than compute capability 8.0 (the oldest target of the
// architecture-neutral kernels), naming the op and the GPU.
void check_supported_device(int device, const char* op);

// Multiprocessors of a device, queried once per device.
int multiprocessor_count(int device);

// Whether a device has programmatic dependent launch (compute capability 9.0 and later).
bool has_dependent_launch(int device);

// Blocks of `threads` threads for a grid-stride loop over `work` items: enough to fill the GPU
// `waves` times over, no more than the work needs.
int64_t grid_size(int64_t work, int threads, int device, int blocks_per_multiprocessor = 8);

// True when `pointer` is aligned to `bytes`.
inline bool is_aligned(const void* pointer, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(pointer) % bytes == 0;
}

}  // namespace nvfp4::cuda
