#pragma once
#include <string>

namespace ferry::cli {

/// A line a build printed, as text a terminal shows and never obeys: control
/// characters (ESC, CR, BEL, the C1 controls) as \xNN.
std::string printable(const std::string& line);

} // namespace ferry::cli
