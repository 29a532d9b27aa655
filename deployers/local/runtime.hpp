#pragma once
// The local runtime: what the router serves from. It keeps
//   - deployments, loaded on first use from their build output (Build Output
//     API v3: static/, functions/NAME.func/, config.json routes), immutable;
//   - the alias table (host -> deployment), swapped as a whole, so a switch
//     is atomic for every request that starts after it;
//   - per function, a pool of instances: sandboxed bridge processes started
//     on demand from pre-started generic runtimes, more under load up to a
//     maximum, stopped when idle (scale to zero), restarted with backoff;
//   - the runtime log of every deployment (router requests, function output).
// Router threads call it directly (it locks what it shares); the local
// target actor drives its timers and tells it of alias changes.
#include "deployers/local/log_hub.hpp"
#include "deployers/local/routing.hpp"
#include "messages/registry.hpp"
#include "storage/blob_store.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace ferry::runtime {

using clock = std::chrono::steady_clock;

struct options {
  std::string data_dir;   ///< DATA/runtime: exported deployments, instance slots, logs
  std::string bridge_dir; ///< deployers/bridge
  std::string domain = "ferry.localhost";
  size_t pool_size = 2;                          ///< generic runtimes kept started
  std::chrono::milliseconds idle{5 * 60 * 1000}; ///< an unused instance stops after this
  uint32_t max_instances = 4;                    ///< per function
  uint32_t concurrency = 64;                     ///< requests one instance takes at once
  uint32_t pids = 256;                           ///< per instance
  double cpus = 1.0;                             ///< per instance
  uint64_t pool_memory_mb = 1024;                ///< limit of a runtime not yet assigned
  uint64_t max_log_bytes = 64 << 20; ///< a deployment's runtime log, before it starts anew
  /// The memory (the functions' own limits) the node's instances may hold
  /// together; one project at most half of it. 0: three quarters of the RAM.
  uint64_t memory_budget_mb = 0;
};

struct static_file {
  std::string disk_path;
  uint64_t size = 0;
  std::string etag; ///< "\"<sha256>\""
  std::string content_type;
};

/// A prerender function's settings (the Build Output API's
/// NAME.prerender-config.json): the router keeps its answers and serves
/// them until they expire, then the stale one while a new one is made.
struct prerender_config {
  int64_t expiration_s = 0; ///< 0: never (revalidated on demand only)
  std::string bypass_token; ///< "" for none; else at least 32 characters
  /// The query parameters an answer is kept by; nullopt: all of them.
  std::optional<std::vector<std::string>> allow_query;
  bool pass_query = false; ///< the function gets the query (else only x-now-route-matches)
  std::shared_ptr<const std::string> fallback; ///< served until it first expires (or null)
  std::string fallback_type;                   ///< its content type
  unsigned initial_status = 200;               ///< the fallback's status and headers
  std::vector<std::pair<std::string, std::string>> initial_headers;
};

struct function_config {
  std::string name;    ///< "api/hello"
  std::string dir;     ///< host directory of NAME.func
  std::string handler; ///< file in it
  bool helpers = true;
  uint64_t memory_mb = 256;
  int max_duration_s = 10;
  std::shared_ptr<const prerender_config> prerender; ///< a prerender function's (or null)
  bool hidden = false; ///< at no path (the Routing Middleware: the router calls it)
};

/// A built deployment as the router serves it. Immutable once loaded.
struct deployment {
  std::string id;
  std::string project;
  std::string owner;  ///< of the project: its instances share the owner's memory budget
  std::string target; ///< production or preview: whose environment functions get
  std::string dir;    ///< its exported output
  std::map<std::string, static_file> statics; ///< "/index.html" -> file
  route_table routing; ///< config.json's routes (empty: the files at their paths)
  std::map<std::string, function_config> functions;
  int64_t loaded_ms = 0; ///< (steady clock) when the router loaded it: its fallbacks' age
  /// Routing Middleware: the function the router calls before the routes,
  /// on the paths one of its matchers takes (a path matching first and not
  /// second, if any); none: no middleware
  std::vector<std::pair<std::shared_ptr<const re2::RE2>, std::shared_ptr<const re2::RE2>>>
      middleware_matchers;
  std::string middleware_fn;

  /// The static file for a request path ("/", "/a", "/a/" find index.html;
  /// "/a" and "/a/" also a.html).
  const static_file* find_static(const std::string& path) const;
  /// The function at a path ("/api/x": api/x.func, else api/x/index.func;
  /// "/" and "/a/": index).
  const function_config* function_at(const std::string& path) const;
  /// What a path names, one of the two or neither: a static file at that
  /// very path (or the index.html of "/" and "/a/"), else a function, else
  /// a.html or a/index.html for "/a".
  std::pair<const static_file*, const function_config*> target_of(const std::string& path) const;
};

/// A deployment as one host serves it: with the environment its functions
/// get there (production through the production alias; anywhere else the
/// deployment's own: preview for a preview deployment).
struct routed {
  std::shared_ptr<const deployment> dep;
  std::string env;
};

/// Exports a deployment's output from the blob store into dir (once) and
/// reads its layout.
caf::expected<std::shared_ptr<const deployment>> load_deployment(blob_store& store,
                                                                 const deployment_ref& ref,
                                                                 const std::string& dir);

class process;
class function_pool;

/// An instance of a function: a sandboxed bridge process serving one
/// function on a unix socket.
struct instance {
  std::shared_ptr<void> memory;      ///< its share of the node's memory budget, given back with it
  std::weak_ptr<function_pool> pool; ///< where it goes back
  uint64_t serial = 0;
  std::shared_ptr<process> proc;
  uint32_t in_flight = 0; ///< guarded by the pool's lock
  clock::time_point last_used;
  bool dead = false; ///< crashed, timed out or stopped: takes no more requests
};

/// Called once when a pool that had no room may have some. It is called
/// with the pool's lock held: it must only post.
using waker = std::function<void()>;

/// A pool's answer to a request that must not block.
struct attempt {
  std::shared_ptr<instance> got; ///< an instance with room; or
  bool start = false;            ///< none, and the caller is to start one (start_reserved); or
  uint64_t ticket = 0;           ///< none: its waker is kept (cancel_wait with this)
};

/// The end of one request to an instance.
enum class outcome { ok, crashed, timed_out };

/// Fetches a project environment's variables (name, value, ...) for an
/// instance; called on the thread starting it.
/// The request names the deployment and the user it is for (its project's
/// owner): the registry answers only for a live deployment of a project that
/// user owns.
using env_source = std::function<caf::expected<std::vector<std::string>>(
    const deployment& dep, const std::string& environment)>;
/// Resolves a deployment id for loading.
using resolver = std::function<caf::expected<deployment_ref>(const std::string& id)>;

class core {
public:
  core(options opts, blob_store_ptr store, resolver resolve, env_source env);
  ~core();
  /// Sets how it reaches the registry (before the router starts).
  void connect(resolver resolve, env_source env) {
    resolve_ = std::move(resolve);
    env_ = std::move(env);
  }

  const options& opts() const { return opts_; }
  log_hub& logs() { return logs_; }

  /// The deployment a Host header names (ID-PROJECT.domain, or an alias),
  /// loading it on first use, with the environment its functions get there;
  /// not_found if none.
  caf::expected<routed> route_host(const std::string& host);
  /// The same without waiting: nullopt if it would have to load a
  /// deployment (or ask the registry) first.
  std::optional<caf::expected<routed>> route_host_loaded(const std::string& host);
  caf::expected<std::shared_ptr<const deployment>> get(const std::string& id);

  /// An instance of f in environment env with room for one more request,
  /// started if needed; unavailable after the deadline (the reason says why).
  caf::expected<std::shared_ptr<instance>> acquire(const deployment& d, const function_config& f,
                                                   const std::string& env,
                                                   clock::time_point deadline);
  /// The pool of a deployment's function in an environment, for a caller
  /// that keeps it (valid while generation() is).
  std::shared_ptr<function_pool> pool_of(const deployment& d, const function_config& f,
                                         const std::string& env);
  /// A running instance of the pool with room, never waiting; nullptr if none.
  std::shared_ptr<instance> try_acquire(function_pool& pool);
  /// The same, and if there is none: either the caller starts one
  /// (start_reserved, which may block) or wake is called when there may be
  /// room; a caller that stops waiting cancels its ticket.
  attempt try_acquire(function_pool& pool, waker wake);
  /// (request names the request it starts for, in the log of a failure)
  caf::expected<std::shared_ptr<instance>> start_reserved(function_pool& pool,
                                                          clock::time_point deadline,
                                                          const std::string& request = "");
  void cancel_wait(function_pool& pool, uint64_t ticket);
  /// Forgets every waiter (the router stops: nothing is to be posted to it).
  void drop_waiters();
  void release(const std::shared_ptr<instance>& i, outcome how);

  /// Loads a deployment and starts (and health-checks) one instance of each
  /// of its functions in environment env: done before an alias moves to it.
  caf::error warm(const std::string& id, const std::string& env);
  /// Replaces the whole alias table, or changes one entry (empty deployment: removed).
  void set_aliases(const std::vector<alias_info>& all);
  void apply_alias(const alias_info& a);
  bool aliases_known() const { return aliases_known_; }
  /// The registry confirmed the alias table (a resync, a notice) just now.
  void aliases_confirmed();
  /// This process was frozen (stopped) past the lease: a promote may have
  /// gone by unheard, so alias hosts answer 503 until the table is
  /// confirmed again (for 10 s at most: then the table is served as it is).
  void was_frozen();
  /// Alias hosts answer 503: the table is past its lease since a freeze,
  /// or unconfirmed for longer than the lease while the registry was
  /// reachable (a router that could not answer a promote, the registry
  /// waited for it, then went on).
  bool aliases_stale() const;
  /// A resync failed: the registry is out of reach (the api node down): no
  /// promote can happen meanwhile, so the table is served as it is.
  void registry_unreachable();
  static constexpr int64_t alias_lease_ms = 3000; ///< (< the registry's wait for a router)
  /// Changes whenever an alias or a deployment changes: a cached routing
  /// decision stays good while it does not.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  /// Stops a deployment's instances and forgets it.
  void remove(const std::string& id);
  /// Stops idle instances, keeps the generic pool full, flushes logs.
  void tick();
  /// Instances per deployment and function, as JSON text.
  std::string status() const;

  /// A generic runtime from the pool (or a new one): internal to instances.
  std::shared_ptr<process> claim_process();
  /// mb of the node's memory budget for an instance of owner's, held until
  /// the returned handle goes; why not, if it would pass the budget or the
  /// owner's half of it (a user's projects together: a user with many
  /// projects takes no more).
  caf::expected<std::shared_ptr<void>> take_memory(const std::string& owner, uint64_t mb);

private:
  options opts_;
  blob_store_ptr store_;
  resolver resolve_;
  env_source env_;
  log_hub logs_;

  mutable std::mutex mtx_;
  std::map<std::string, std::shared_ptr<const deployment>> deployments_;
  std::map<std::string, std::shared_ptr<std::mutex>> loading_; ///< one load per id at a time
  struct alias_target {
    std::string deployment;
    bool production = false;
    bool operator==(const alias_target&) const = default;
  };
  std::shared_ptr<const std::map<std::string, alias_target>> aliases_; ///< by host
  std::atomic<bool> aliases_known_{false};
  std::atomic<int64_t> aliases_confirmed_ms_{0};
  std::atomic<int64_t> frozen_ms_{0}; ///< when a freeze was noticed (0: none pending)
  std::atomic<bool> registry_reachable_{true};
  std::atomic<uint64_t> generation_{1};
  std::map<std::string, std::shared_ptr<function_pool>> pools_; ///< "id/function/env"
  std::vector<std::shared_ptr<process>> spare_;                 ///< the generic pool
  std::atomic<uint64_t> next_slot_{1};
  uint64_t memory_used_ = 0;                        ///< MiB, under mtx_
  std::map<std::string, uint64_t> memory_by_owner_; ///< MiB, under mtx_

  std::shared_ptr<process> start_process();
  std::optional<caf::expected<routed>> route(const std::string& host, bool may_load);
};

} // namespace ferry::runtime
