// The doctest runner for the unit tests. Each test_*.cc covers one unit of
// src/; meson runs each file as its own test through --source-file.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
