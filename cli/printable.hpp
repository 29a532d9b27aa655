#pragma once
#include <string>

namespace ferry::cli {

/// A line a build or a function printed, as text a terminal shows and never
/// obeys: control characters (ESC, CR, BEL, the C1 controls) as \xNN, the
/// characters that reorder or break a line (bidirectional controls, line
/// and paragraph separators) as \u{XXXX}.
std::string printable(const std::string& line);

} // namespace ferry::cli
