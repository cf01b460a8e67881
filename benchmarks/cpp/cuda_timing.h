// What the CUDA benchmarks share: a CUDA error check for functions that return bool, and the
// average time of back-to-back launches measured with CUDA events, issued one by one or replayed
// from a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>

#define CHECK_CUDA(call)                                                                               \
  do {                                                                                                 \
    const cudaError_t status = (call);                                                                 \
    if (status != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(status)); \
      return false;                                                                                    \
    }                                                                                                  \
  } while (0)

// Microseconds per call of `launch` (returning a cudaError_t) over `iterations` calls on the
// default stream, in `average_us`. Returns false on a CUDA error.
template <typename Launch>
bool time_launches(Launch&& launch, int iterations, double& average_us) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < iterations; ++i) CHECK_CUDA(launch());
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float milliseconds = 0;
  CHECK_CUDA(cudaEventElapsedTime(&milliseconds, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  average_us = 1e3 * milliseconds / iterations;
  return true;
}

// Microseconds per call of `launch(stream)` (returning a cudaError_t): `iterations` calls captured
// in one CUDA graph, replayed once to warm up and once timed, so that host launch costs (large
// for cluster launches) do not hide the GPU time. Returns false on a CUDA error.
template <typename Launch>
bool time_graph(Launch&& launch, int iterations, double& average_us) {
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < iterations; ++i) {
    if (launch(stream) != cudaSuccess) {
      cudaStreamEndCapture(stream, &graph);
      std::fprintf(stderr, "launch failed during capture\n");
      return false;
    }
  }
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t replay;
  CHECK_CUDA(cudaGraphInstantiate(&replay, graph, 0));
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaGraphLaunch(replay, stream));
  CHECK_CUDA(cudaEventRecord(start, stream));
  CHECK_CUDA(cudaGraphLaunch(replay, stream));
  CHECK_CUDA(cudaEventRecord(stop, stream));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float milliseconds = 0;
  CHECK_CUDA(cudaEventElapsedTime(&milliseconds, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(replay);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  average_us = 1e3 * milliseconds / iterations;
  return true;
}
