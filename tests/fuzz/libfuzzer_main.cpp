// libFuzzer entry: built once per target with -DFERRY_FUZZ_TARGET=name.
#include "tests/fuzz/fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ferry::fuzz::FERRY_FUZZ_TARGET(data, size);
}
