// What every fuzz target shares: a check that stops the run with a message when an invariant of
// a parser's answer does not hold (libFuzzer then saves the input that broke it).
#pragma once

#include <cstdio>
#include <cstdlib>

#define LUNFS_FUZZ_CHECK(condition)                                                                \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)
