// Each compiled module of the package (nvfp4._C, nvfp4._C_sm90, ...) is an empty Python module:
// importing it runs its static op registrations. Built against Python's limited API (the version torch
// sets), so one wheel serves every CPython from that version on.
#pragma once

#include <Python.h>

#define NVFP4_EMPTY_PYTHON_MODULE(NAME)                                                \
  extern "C" PyObject* PyInit_##NAME(void) {                                           \
    static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, #NAME, nullptr, -1, \
                                            nullptr};                                  \
    return PyModule_Create(&module_def);                                               \
  }
