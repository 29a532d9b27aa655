// Build logs reach a terminal as text: shown, never obeyed.
#include "cli/printable.hpp"

#include <catch2/catch.hpp>

TEST_CASE("a log line's control characters are shown, not obeyed") {
  using ferry::cli::printable;
  CHECK(printable("plain text\twith a tab") == "plain text\twith a tab");
  CHECK(printable("\x1b[31mRED") == "\\x1b[31mRED");
  CHECK(printable("ok\rferry: build FORGED built") == "ok\\x0dferry: build FORGED built");
  CHECK(printable("\x1b]52;c;ZXZpbA==\x07") == "\\x1b]52;c;ZXZpbA==\\x07");
  CHECK(printable("a\xc2\x9b"
                  "31mb") == "a\\x9b31mb"); // a C1 CSI, in UTF-8
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");
}
