#pragma once
// The runtime log of every deployment, DATA/runtime/logs/ID.log: one JSON
// line each, from the router (requests), the runtime (starts, exits) and
// the functions (their output).
//   - Every line is masked with the secret values of its deployment, as
//     the last step before it is written, whoever wrote it and whatever
//     escapes it used on the way.
//   - A log is bounded: past max_bytes it starts anew (line numbers go on;
//     a reader from an earlier number gets what is left).
//   - At most 64 files are open at once; reading a log opens nothing.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ferry::runtime {

class masker;

class log_hub {
public:
  explicit log_hub(std::string dir, uint64_t max_bytes = 64 << 20);
  ~log_hub();
  log_hub(const log_hub&) = delete;
  log_hub& operator=(const log_hub&) = delete;

  void append(const std::string& deployment, std::string json_line);
  /// A masker of these forms, shared with every other asker of the same
  /// forms (the deployments of an environment: one trie, not one each).
  std::shared_ptr<const masker> masker_for(const std::vector<std::string>& forms);
  /// Hides what m finds in a deployment's lines from now on; the maskers
  /// given before stay as long as something else holds them (the instances
  /// of an earlier set of variables, which may print them).
  void add_masks(const std::string& deployment, std::shared_ptr<const masker> m);
  /// Lines from number `from` on (at most max, and 1 MiB), and the number
  /// after them.
  std::vector<std::string> read(const std::string& deployment, uint64_t from, size_t max,
                                uint64_t& next);
  void flush();

private:
  struct log {
    std::string path;
    FILE* f = nullptr;
    uint64_t lines = 0; ///< lines written, ever: the number of the next
    uint64_t base = 0;  ///< the number of the file's first line
    uint64_t bytes = 0; ///< in the file
    uint64_t used = 0;  ///< when last written (for closing the least used)
    std::shared_ptr<const masker> newest;
    std::vector<std::weak_ptr<const masker>> earlier; ///< held by their instances
  };
  static constexpr size_t max_open = 64;

  std::string dir_;
  uint64_t max_bytes_;
  std::mutex mtx_;
  std::map<std::string, log> logs_;
  size_t open_ = 0;
  uint64_t clock_ = 0;
  std::map<std::string, std::weak_ptr<const masker>> maskers_; ///< by SHA-256 of their forms

  log& entry(const std::string& deployment);
  FILE* handle(log& l);
};

} // namespace ferry::runtime
