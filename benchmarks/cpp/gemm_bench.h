// What the GEMM benchmarks share: whether this machine's GPU is one the kernels are for, the rows
// of the output checked against the CPU, and the copies of the weight that the timed calls rotate
// over so that it comes from DRAM, as in a model's forward pass.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "cuda_timing.h"

// Whether device 0 has compute capability `major`.x; if not, says why `program` has nothing to run
// (its caller then exits 0: the benchmark builds and runs everywhere).
inline bool gpu_has_major(const char* program, int major) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("%s: no CUDA GPU here. Nothing to run.\n", program);
    return false;
  }
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, 0) != cudaSuccess || props.major != major) {
    std::printf("%s: the kernels are for compute capability %d.x; %s is %d.%d. Nothing to run.\n", program, major,
                props.name, props.major, props.minor);
    return false;
  }
  return true;
}

// The output rows checked against the CPU: the first two, the middle and the last two.
inline std::vector<int64_t> checked_rows(int64_t m) {
  std::vector<int64_t> rows;
  for (const int64_t row : {int64_t{0}, int64_t{1}, m / 2, m - 2, m - 1}) {
    if (row >= 0 && row < m && std::find(rows.begin(), rows.end(), row) == rows.end()) rows.push_back(row);
  }
  return rows;
}

// Copies of a weight (its codes, then its scales, in one allocation each), at least 200 MB in all,
// for the timed calls to use in turn. Frees them when it goes.
class RotatingCopies {
 public:
  RotatingCopies() = default;
  RotatingCopies(const RotatingCopies&) = delete;
  RotatingCopies& operator=(const RotatingCopies&) = delete;
  ~RotatingCopies() {
    for (uint8_t* copy : copies_) cudaFree(copy);
  }

  // Makes the copies of the device bytes `codes` and `scales`.
  bool make(const void* codes, size_t codes_bytes, const void* scales, size_t scales_bytes) {
    constexpr size_t kRotatingBytes = size_t{200} << 20;
    codes_bytes_ = codes_bytes;
    const size_t copy_bytes = codes_bytes + scales_bytes;
    copies_.assign(std::max<size_t>(1, (kRotatingBytes + copy_bytes - 1) / copy_bytes), nullptr);
    for (uint8_t*& copy : copies_) {
      CHECK_CUDA(cudaMalloc(&copy, copy_bytes));
      CHECK_CUDA(cudaMemcpy(copy, codes, codes_bytes, cudaMemcpyDeviceToDevice));
      CHECK_CUDA(cudaMemcpy(copy + codes_bytes, scales, scales_bytes, cudaMemcpyDeviceToDevice));
    }
    return true;
  }
  // The next copy's codes and scales.
  const uint8_t* next_codes() {
    const uint8_t* copy = copies_[next_];
    next_ = (next_ + 1) % copies_.size();
    return copy;
  }
  const uint8_t* scales_of(const uint8_t* codes) const { return codes + codes_bytes_; }

 private:
  std::vector<uint8_t*> copies_;
  size_t codes_bytes_ = 0;
  size_t next_ = 0;
};
