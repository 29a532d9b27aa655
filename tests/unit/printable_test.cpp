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

TEST_CASE("a log line's bidirectional controls and line separators are shown, not obeyed") {
  using ferry::cli::printable;
  // after U+202E "txt.exe" would show reversed; U+2028 would break the line
  CHECK(printable("file \xe2\x80\xaetxt.exe") == "file \\u{202e}txt.exe");
  CHECK(printable("a\xe2\x80\xa8"
                  "b") == "a\\u{2028}b");
  CHECK(printable("\xe2\x81\xa6x\xe2\x81\xa9") == "\\u{2066}x\\u{2069}");
  CHECK(printable("\xe2\x80\x8f\xd8\x9c") == "\\u{200f}\\u{061c}");
  CHECK(printable("dash \xe2\x80\x94 and quote \xe2\x80\x9c") ==
        "dash \xe2\x80\x94 and quote \xe2\x80\x9c"); // other punctuation stays
}
