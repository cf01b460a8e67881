// What the Hopper GEMM's chunked path (csrc/sm90/fragment_gemm.cuh, launch_ordered_wgmma) takes
// for granted about events and programmatic dependent launch, checked on the GPU (torch-free; run
// by ctest). There, a second stream orders x chunk by chunk: each ordering kernel lets its
// dependents start at once (allow_dependent_grids), an event is recorded after it, and the next
// chunk's ordering kernel follows as a dependent launch; the first stream waits on each event and
// multiplies that chunk as a dependent launch. That is correct only if
// - an event recorded after a kernel that lets its dependents start early completes only once that
//   kernel has finished, whether the kernel after the record is a dependent launch or not, and
//   whether the kernel waiting on the event is (cases "early trigger");
// - a dependent launch behind a stream's event wait still waits for the event ("event wait");
// - a dependent launch behind a memset sees the memset's bytes after wait_for_prior_grids ("memset").
// Each case: a kernel that spins ~2 ms before it sets a flag, and a reader that records the flag
// it sees; repeated, since a wrong ordering shows only as a race. Without a GPU of compute
// capability 9.0 or later it says so and exits with 77, which ctest reports as skipped.

#include <cuda_runtime.h>

#include <cstdio>

#include "cuda/dependent_launch.cuh"
#include "gpu_test.h"

namespace {

using nvfp4::testing::check;

constexpr int kTrials = 20;
constexpr long long kSpinCycles = 4'000'000;  // ~2 ms: far longer than a launch

__device__ void spin(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

// Sets *flag after spinning, having let its dependents start at once.
__global__ void trigger_early_then_set(int* flag, long long cycles) {
  nvfp4::cuda::allow_dependent_grids();
  spin(cycles);
  __threadfence();
  *flag = 1;
}

__global__ void spin_then_set(int* flag, long long cycles) {
  spin(cycles);
  __threadfence();
  *flag = 1;
}

__global__ void spin_only(long long cycles) { spin(cycles); }

__global__ void wait_only() { nvfp4::cuda::wait_for_prior_grids(); }

__global__ void read_flag(const int* flag, int* seen) {
  nvfp4::cuda::wait_for_prior_grids();
  *seen = *static_cast<const volatile int*>(flag);
}

struct Streams {
  cudaStream_t first, second;
  cudaEvent_t event;
  int* flag;  // what the setting kernel writes
  int* seen;  // what the reader saw
};

template <typename... Params, typename... Args>
cudaError_t launch(bool dependent, void (*kernel)(Params...), cudaStream_t stream, Args... args) {
  return nvfp4::cuda::launch_dependent_if(dependent, kernel, dim3(1), dim3(1), 0, stream, args...);
}

// Before a case: the flag set to `flag`, what the reader saw to -1, the device idle.
bool reset(const Streams& s, int flag) {
  return check(cudaMemset(s.flag, flag, sizeof(int)), "cudaMemset") &&
         check(cudaMemset(s.seen, 0xff, sizeof(int)), "cudaMemset") &&
         check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

// After a case's launches: 1 if the reader saw `expected`, 0 if not, -1 on an error (printed).
int outcome(const Streams& s, bool launched, int expected) {
  int seen = -1;
  if (!launched || !check(cudaDeviceSynchronize(), "cudaDeviceSynchronize") ||
      !check(cudaMemcpy(&seen, s.seen, sizeof(int), cudaMemcpyDeviceToHost), "cudaMemcpy")) {
    return -1;
  }
  return seen == expected;
}

// The chunked path's hand-over: on `second` an early-triggering kernel, the event, then a kernel
// (dependent launch or not); on `first` a wait on the event, then the reader, which must see the
// flag set.
int early_trigger_case(const Streams& s, bool dependent_after_record, bool dependent_reader) {
  const bool launched =
      reset(s, 0) && check(launch(true, trigger_early_then_set, s.second, s.flag, kSpinCycles), "setter") &&
      check(cudaEventRecord(s.event, s.second), "cudaEventRecord") &&
      check(launch(dependent_after_record, wait_only, s.second), "kernel after the record") &&
      check(cudaStreamWaitEvent(s.first, s.event, 0), "cudaStreamWaitEvent") &&
      check(launch(dependent_reader, read_flag, s.first, static_cast<const int*>(s.flag), s.seen), "reader");
  return outcome(s, launched, 1);
}

// A dependent reader behind an event wait, with a shorter kernel before it on its own stream (the
// one a dependent launch would otherwise overlap): it must see the flag set.
int event_wait_case(const Streams& s) {
  const bool launched =
      reset(s, 0) && check(launch(true, spin_only, s.first, kSpinCycles / 4), "kernel before the wait") &&
      check(launch(true, spin_then_set, s.second, s.flag, kSpinCycles), "setter") &&
      check(cudaEventRecord(s.event, s.second), "cudaEventRecord") &&
      check(cudaStreamWaitEvent(s.first, s.event, 0), "cudaStreamWaitEvent") &&
      check(launch(true, read_flag, s.first, static_cast<const int*>(s.flag), s.seen), "reader");
  return outcome(s, launched, 1);
}

// A dependent reader behind a memset that clears the flag, behind a spinning kernel: it must see
// the flag cleared.
int memset_case(const Streams& s) {
  const bool launched =
      reset(s, 1) && check(launch(true, spin_only, s.first, kSpinCycles), "kernel before the memset") &&
      check(cudaMemsetAsync(s.flag, 0, sizeof(int), s.first), "cudaMemsetAsync") &&
      check(launch(true, read_flag, s.first, static_cast<const int*>(s.flag), s.seen), "reader");
  return outcome(s, launched, 0);
}

}  // namespace

int main() {
  cudaDeviceProp props{};
  if (const int status = nvfp4::testing::first_device(props); status != 0) return status;
  if (props.major < 9) {
    std::printf("SKIPPED: %s (sm_%d%d) has no programmatic dependent launch\n", props.name, props.major,
                props.minor);
    return nvfp4::testing::kSkipped;
  }
  Streams s{};
  if (!check(cudaStreamCreateWithFlags(&s.first, cudaStreamNonBlocking), "cudaStreamCreate") ||
      !check(cudaStreamCreateWithFlags(&s.second, cudaStreamNonBlocking), "cudaStreamCreate") ||
      !check(cudaEventCreateWithFlags(&s.event, cudaEventDisableTiming), "cudaEventCreate") ||
      !check(cudaMalloc(&s.flag, sizeof(int)), "cudaMalloc") ||
      !check(cudaMalloc(&s.seen, sizeof(int)), "cudaMalloc")) {
    return 1;
  }
  struct Case {
    const char* name;
    int wrong;
  };
  Case cases[] = {{"early trigger, dependent kernel after the record, dependent reader", 0},
                  {"early trigger, dependent kernel after the record, plain reader", 0},
                  {"early trigger, plain kernel after the record, dependent reader", 0},
                  {"event wait, dependent reader", 0},
                  {"memset, dependent reader", 0}};
  for (int trial = 0; trial < kTrials; ++trial) {
    const int results[] = {early_trigger_case(s, true, true), early_trigger_case(s, true, false),
                           early_trigger_case(s, false, true), event_wait_case(s), memset_case(s)};
    for (int c = 0; c < 5; ++c) {
      if (results[c] < 0) return 1;  // a CUDA error, already printed
      cases[c].wrong += results[c] != 1;
    }
  }
  bool passed = true;
  std::printf("%s (sm_%d%d), %d trials each:\n", props.name, props.major, props.minor, kTrials);
  for (const Case& c : cases) {
    std::printf("  %s: %d wrong\n", c.name, c.wrong);
    passed = passed && c.wrong == 0;
  }
  std::printf("%s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
