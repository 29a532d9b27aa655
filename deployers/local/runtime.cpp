#include "deployers/local/runtime.hpp"

#include "actors/host_names.hpp"

#include "deployers/local/http_text.hpp"
#include "deployers/local/process.hpp"
#include "messages/errors.hpp"
#include "messages/json_text.hpp"
#include "storage/beneath.hpp"
#include "storage/dir_io.hpp"
#include "storage/tree.hpp"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::runtime {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

// ---------------------------------------------------------- function pool

/// The instances of one function of one deployment.
class function_pool : public std::enable_shared_from_this<function_pool> {
public:
  function_pool(core& c, std::shared_ptr<const deployment> d, function_config f, std::string env)
      : core_(c), dep_(std::move(d)), fn_(std::move(f)), env_name_(std::move(env)) {}

  ~function_pool() { stop_all(); }

  /// A running instance with room for one more request, or nullptr.
  std::shared_ptr<instance> try_acquire() {
    std::lock_guard<std::mutex> guard{mtx_};
    return take_locked();
  }

  caf::expected<std::shared_ptr<instance>> acquire(clock::time_point deadline, env_source& env) {
    std::unique_lock<std::mutex> guard{mtx_};
    while (true) {
      if (auto best = take_locked())
        return best;
      if (reserve_start_locked())
        return start_counted(guard, deadline, env, "");
      if (cv_.wait_until(guard, deadline) == std::cv_status::timeout)
        return make_error(ec::unavailable, "function " + fn_.name +
                                               " is at its limit of instances; try again later");
    }
  }

  /// An instance with room; or the caller is to start one (start_reserved);
  /// or wake is kept, to be called once when there may be room.
  attempt try_acquire(waker wake) {
    std::lock_guard<std::mutex> guard{mtx_};
    attempt a;
    a.got = take_locked();
    if (a.got)
      return a;
    if ((a.start = reserve_start_locked()))
      return a;
    a.ticket = next_ticket_++;
    waiters_.emplace_back(a.ticket, std::move(wake));
    return a;
  }

  caf::expected<std::shared_ptr<instance>> start_reserved(clock::time_point deadline,
                                                          env_source& env,
                                                          const std::string& request) {
    std::unique_lock<std::mutex> guard{mtx_};
    return start_counted(guard, deadline, env, request);
  }

  void cancel_wait(uint64_t ticket) {
    std::lock_guard<std::mutex> guard{mtx_};
    waiters_.erase(std::remove_if(waiters_.begin(), waiters_.end(),
                                  [&](auto& w) { return w.first == ticket; }),
                   waiters_.end());
  }

  void drop_waiters() {
    std::lock_guard<std::mutex> guard{mtx_};
    waiters_.clear();
  }

  void release(const std::shared_ptr<instance>& i, outcome how) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (i->in_flight > 0)
      --i->in_flight;
    i->last_used = clock::now();
    if (how == outcome::ok) {
      if (!i->proc->exited())
        crashes_ = 0;
      wake_locked(1); // room for one more
    } else {
      i->dead = true;
      i->proc->stop();
      if (how == outcome::crashed)
        crashed_locked();
      wake_locked(waiters_.size()); // one of them may start another
    }
    cv_.notify_all();
  }

  /// Stops instances idle for longer than idle; true if none is left.
  bool reap(clock::time_point now, std::chrono::milliseconds idle) {
    std::vector<std::shared_ptr<instance>> stopped;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& i : instances_)
        if (i->in_flight == 0 && (i->dead || i->proc->exited() || now - i->last_used > idle)) {
          i->dead = true;
          stopped.push_back(i);
        }
      drop_dead();
    }
    for (auto& i : stopped)
      i->proc->stop();
    std::lock_guard<std::mutex> guard{mtx_};
    return instances_.empty() && starting_ == 0;
  }

  void stop_all() {
    std::lock_guard<std::mutex> guard{mtx_};
    wake_locked(waiters_.size()); // they find the deployment gone
    for (auto& i : instances_) {
      i->dead = true;
      i->proc->stop();
    }
    instances_.clear();
    cv_.notify_all();
  }

  json status() {
    std::lock_guard<std::mutex> guard{mtx_};
    json list = json::array();
    for (auto& i : instances_)
      list.push_back(json{{"serial", i->serial}, {"in_flight", i->in_flight}});
    return json{{"function", fn_.name},
                {"environment", env_name_},
                {"instances", list},
                {"crashes", crashes_}};
  }

private:
  caf::expected<std::shared_ptr<instance>> start(clock::time_point deadline, env_source& env,
                                                 const std::string& request) {
    auto vars = env(*dep_, env_name_);
    if (!vars)
      return vars.error();
    // every line of the deployment's log is masked with these from now on
    std::vector<std::string> forms;
    for (size_t i = 0; i + 1 < vars->size(); i += 2)
      if ((*vars)[i + 1].size() >= 4)
        for (auto& f : secret_forms((*vars)[i + 1]))
          forms.push_back(std::move(f));
    auto masks = core_.logs().masker_for(forms);
    core_.logs().add_masks(dep_->id, masks);
    vars->insert(vars->end(), {"FERRY_DEPLOYMENT", dep_->id, "FERRY_PROJECT", dep_->project,
                               "FERRY_ENV", env_name_, "FERRY_FUNCTION", fn_.name});
    auto& logs = core_.logs();
    auto id = dep_->id;
    auto name = fn_.name;
    auto failed = [&](caf::error err) { // for the owner: why, under the request's id
      json line{{"t", wall_ms()},
                {"level", "error"},
                {"source", "runtime"},
                {"function", name},
                {"error", reason_of(err)}}; // (masked: process::assign, and the log)
      if (!request.empty())
        line["request_id"] = request;
      logs.append(id, json_text(line));
      return err;
    };
    auto memory = core_.take_memory(dep_->owner, fn_.memory_mb);
    if (!memory)
      return failed(memory.error());
    auto proc = core_.claim_process();
    if (!proc)
      return failed(make_error(ec::unavailable, "no runtime process"));
    auto sink = [&logs, id, name](std::string_view line, bool ours) {
      // the function's output: JSON lines pass as they are, other text is
      // wrapped; whatever it says, its source is the function (a function
      // cannot write a line that looks like the router's or the runtime's)
      // (a deeply nested line is text: a dump of it would recurse without end)
      json j = json_depth(line) <= 16 ? json::parse(line, nullptr, false) : json();
      if (!j.is_object())
        j = json{{"text", std::string(line)}};
      if (!ours)
        j["source"] = "function";
      j["function"] = name;
      if (!j.contains("t") || !j["t"].is_number())
        j["t"] = wall_ms();
      logs.append(id, json_text(j));
    };
    if (auto err = proc->assign(fn_, *vars, std::move(masks), sink, deadline)) {
      proc->stop();
      return failed(std::move(err));
    }
    auto i = std::make_shared<instance>();
    i->memory = std::move(*memory);
    i->pool = weak_from_this();
    i->serial = next_serial_++;
    i->proc = std::move(proc);
    return i;
  }

  /// Starts an instance, starting_ counted by the caller (the lock is given
  /// up meanwhile); it comes with one request on it.
  caf::expected<std::shared_ptr<instance>> start_counted(std::unique_lock<std::mutex>& guard,
                                                         clock::time_point deadline,
                                                         env_source& env,
                                                         const std::string& request) {
    auto wait_until = std::max(clock::now(), retry_at_);
    guard.unlock();
    if (wait_until > deadline) {
      guard.lock();
      --starting_;
      wake_locked(waiters_.size());
      return make_error(ec::unavailable, "function " + fn_.name + " keeps crashing: " +
                                             last_error_ + " (retrying with backoff)");
    }
    std::this_thread::sleep_until(wait_until);
    auto started = start(deadline, env, request);
    guard.lock();
    --starting_;
    cv_.notify_all();
    wake_locked(waiters_.size()); // room in the new one, or another try
    if (!started) {
      last_error_ = reason_of(started.error());
      crashed_locked();
      return started.error();
    }
    auto i = *started;
    i->in_flight = 1;
    i->last_used = clock::now();
    instances_.push_back(i);
    return i;
  }

  /// Calls up to n wakers, oldest first (they only post: the lock is held).
  void wake_locked(size_t n) {
    for (; n > 0 && !waiters_.empty(); --n) {
      auto w = std::move(waiters_.front().second);
      waiters_.pop_front();
      w();
    }
  }

  /// True (and counted in starting_) if the caller may start an instance:
  /// none is starting and there is room for one more.
  bool reserve_start_locked() {
    if (starting_ != 0 || instances_.size() >= core_.opts().max_instances)
      return false;
    ++starting_;
    return true;
  }

  std::shared_ptr<instance> take_locked() {
    drop_dead();
    std::shared_ptr<instance> best;
    for (auto& i : instances_)
      if (i->in_flight < core_.opts().concurrency && (!best || i->in_flight < best->in_flight))
        best = i;
    if (best) {
      ++best->in_flight;
      best->last_used = clock::now();
    }
    return best;
  }

  void crashed_locked() {
    // the first crash restarts at once, then 100 ms, 200 ms, ... up to 5 s
    ++crashes_;
    auto delay = crashes_ <= 1 ? 0 : std::min<int64_t>(5000, 100LL << std::min(crashes_ - 2, 6));
    retry_at_ = clock::now() + std::chrono::milliseconds(delay);
  }

  void drop_dead() {
    instances_.erase(std::remove_if(instances_.begin(), instances_.end(),
                                    [](const std::shared_ptr<instance>& i) {
                                      return (i->dead || i->proc->exited()) && i->in_flight == 0;
                                    }),
                     instances_.end());
    for (auto& i : instances_)
      if (i->proc->exited())
        i->dead = true;
  }

  core& core_;
  std::shared_ptr<const deployment> dep_;
  function_config fn_;
  std::string env_name_; ///< production or preview: whose variables it gets
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<instance>> instances_;
  int starting_ = 0;
  int crashes_ = 0;
  clock::time_point retry_at_{};
  std::string last_error_;
  uint64_t next_serial_ = 1;
  std::deque<std::pair<uint64_t, waker>> waiters_; ///< requests waiting for room, by ticket
  uint64_t next_ticket_ = 1;
};

// ------------------------------------------------------------------- core

core::core(options opts, blob_store_ptr store, resolver resolve, env_source env)
    : opts_(std::move(opts)),
      store_(std::move(store)),
      resolve_(std::move(resolve)),
      env_(std::move(env)),
      logs_((fs::path(opts_.data_dir) / "logs").string(), opts_.max_log_bytes),
      aliases_(std::make_shared<const std::map<std::string, alias_target>>()) {
  std::error_code ec;
  fs::remove_all(fs::path(opts_.data_dir) / "s", ec); // slots of an earlier run
  fs::create_directories(fs::path(opts_.data_dir) / "deployments", ec);
}

core::~core() {
  std::map<std::string, std::shared_ptr<function_pool>> pools;
  std::vector<std::shared_ptr<process>> spare;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    pools.swap(pools_);
    spare.swap(spare_);
  }
  for (auto& [_, p] : pools)
    p->stop_all();
  for (auto& p : spare)
    p->stop();
  logs_.flush();
}

caf::expected<std::shared_ptr<const deployment>> core::get(const std::string& id) {
  std::shared_ptr<std::mutex> latch;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = deployments_.find(id);
    if (it != deployments_.end())
      return it->second;
    auto& l = loading_[id];
    if (!l)
      l = std::make_shared<std::mutex>();
    latch = l;
  }
  std::lock_guard<std::mutex> one{*latch}; // one load per deployment at a time
  struct forget { // the latch goes with the load, whatever its end: unknown ids leave nothing
    core& c;
    const std::string& id;
    ~forget() {
      std::lock_guard<std::mutex> guard{c.mtx_};
      c.loading_.erase(id);
    }
  } forget_latch{*this, id};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = deployments_.find(id);
    if (it != deployments_.end())
      return it->second;
  }
  auto ref = resolve_(id);
  if (!ref)
    return ref.error();
  if (ref->state != "built" || ref->artifact.empty())
    return make_error(ec::not_found, "deployment " + id + " is " + ref->state +
                                         (ref->state == "removed" ? "" : ", not built"));
  auto d =
      load_deployment(*store_, *ref, (fs::path(opts_.data_dir) / "deployments" / ref->id).string());
  if (!d)
    return d.error();
  std::lock_guard<std::mutex> guard{mtx_};
  deployments_[id] = *d;
  return *d;
}

caf::expected<routed> core::route_host(const std::string& host) {
  return *route(host, true);
}

std::optional<caf::expected<routed>> core::route_host_loaded(const std::string& host) {
  return route(host, false);
}

std::optional<caf::expected<routed>> core::route(const std::string& host, bool may_load) {
  using found = std::optional<caf::expected<routed>>;
  // production: the production alias's environment; else the deployment's own
  auto get_or_find = [&](const std::string& id, bool production) -> found {
    caf::expected<std::shared_ptr<const deployment>> d{caf::error{}};
    if (may_load) {
      d = get(id);
    } else {
      std::lock_guard<std::mutex> guard{mtx_};
      auto it = deployments_.find(id);
      if (it == deployments_.end())
        return std::nullopt;
      d = it->second;
    }
    if (!d)
      return caf::expected<routed>{d.error()};
    auto env = production ? std::string("production") : (*d)->target;
    return caf::expected<routed>{routed{*d, env}};
  };
  auto not_found = [&] {
    return caf::expected<routed>{
        make_error(ec::not_found, "no deployment at " + host.substr(0, 253))};
  };
  // A deployment's own host first: ID-PROJECT.DOMAIN is never an alias.
  auto suffix = "." + opts_.domain;
  if (host.size() > suffix.size() &&
      host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) {
    auto label = host.substr(0, host.size() - suffix.size());
    if (looks_like_deployment_label(label) && label.find('.') == std::string::npos) {
      auto d = get_or_find(label.substr(0, 13), false);
      if (!d)
        return d; // to be loaded
      if (*d && (*d)->dep->project == label.substr(14))
        return d;
      if (!*d && code_of(d->error()) != ec::not_found)
        return d;
      return not_found();
    }
  }
  std::shared_ptr<const std::map<std::string, alias_target>> aliases;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    aliases = aliases_;
  }
  auto it = aliases->find(host);
  if (it != aliases->end() && aliases_stale())
    return found{caf::expected<routed>{make_error(
        ec::unavailable, "this router is catching up with the alias table: try another router")}};
  if (it != aliases->end())
    return get_or_find(it->second.deployment, it->second.production);
  return not_found();
}

std::shared_ptr<function_pool> core::pool_of(const deployment& d, const function_config& f,
                                             const std::string& env) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = deployments_.find(d.id);
  if (it == deployments_.end())
    return nullptr; // removed meanwhile
  auto& p = pools_[d.id + "/" + f.name + "/" + env];
  if (!p)
    p = std::make_shared<function_pool>(*this, it->second, f, env);
  return p;
}

caf::expected<std::shared_ptr<instance>> core::acquire(const deployment& d,
                                                       const function_config& f,
                                                       const std::string& env,
                                                       clock::time_point deadline) {
  auto p = pool_of(d, f, env);
  if (!p)
    return make_error(ec::not_found, "deployment " + d.id + " was removed");
  return p->acquire(deadline, env_);
}

std::shared_ptr<instance> core::try_acquire(function_pool& pool) {
  return pool.try_acquire();
}

attempt core::try_acquire(function_pool& pool, waker wake) {
  return pool.try_acquire(std::move(wake));
}

caf::expected<std::shared_ptr<instance>> core::start_reserved(function_pool& pool,
                                                              clock::time_point deadline,
                                                              const std::string& request) {
  return pool.start_reserved(deadline, env_, request);
}

void core::cancel_wait(function_pool& pool, uint64_t ticket) {
  pool.cancel_wait(ticket);
}

void core::drop_waiters() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [_, p] : pools_)
    p->drop_waiters();
}

void core::release(const std::shared_ptr<instance>& i, outcome how) {
  if (auto p = i->pool.lock())
    p->release(i, how);
  else
    i->proc->stop();
}

caf::error core::warm(const std::string& id, const std::string& env) {
  auto d = get(id);
  if (!d)
    return d.error();
  auto deadline = clock::now() + std::chrono::seconds(30);
  for (auto& [_, f] : (*d)->functions) {
    auto i = acquire(**d, f, env.empty() ? (*d)->target : env, deadline);
    if (!i)
      return i.error();
    bool healthy = health_check((*i)->proc->socket_path(), deadline);
    release(*i, healthy ? outcome::ok : outcome::crashed);
    if (!healthy)
      return make_error(ec::unavailable,
                        "function " + f.name + " of " + id + " failed its health check");
  }
  return {};
}

namespace {
int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
} // namespace

void core::aliases_confirmed() {
  aliases_confirmed_ms_ = steady_now_ms();
  frozen_ms_ = 0;
  registry_reachable_ = true;
}

void core::was_frozen() {
  frozen_ms_ = steady_now_ms();
}

void core::registry_unreachable() {
  registry_reachable_ = false;
}

bool core::aliases_stale() const {
  if (!aliases_known_)
    return false;
  auto now = steady_now_ms();
  int64_t frozen = frozen_ms_;
  if (frozen != 0 && now - frozen < 10000)
    return true;
  return registry_reachable_ && now - aliases_confirmed_ms_ > alias_lease_ms;
}

void core::set_aliases(const std::vector<alias_info>& all) {
  auto m = std::make_shared<std::map<std::string, alias_target>>();
  for (auto& a : all)
    if (!a.deployment.empty())
      (*m)[a.host] = alias_target{a.deployment, a.production};
  std::lock_guard<std::mutex> guard{mtx_};
  bool same = aliases_known_ && aliases_ && *aliases_ == *m; // (a resync that finds nothing new)
  aliases_known_ = true;
  if (same)
    return;
  aliases_ = std::move(m);
  ++generation_;
}

void core::apply_alias(const alias_info& a) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto m = std::make_shared<std::map<std::string, alias_target>>(*aliases_);
  if (a.deployment.empty())
    m->erase(a.host);
  else
    (*m)[a.host] = alias_target{a.deployment, a.production};
  aliases_ = std::move(m); // one pointer swap: a request sees the old table or the new
  ++generation_;
}

void core::remove(const std::string& id) {
  std::vector<std::shared_ptr<function_pool>> gone;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    deployments_.erase(id);
    ++generation_;
    for (auto it = pools_.begin(); it != pools_.end();) {
      if (it->first.rfind(id + "/", 0) == 0) {
        gone.push_back(it->second);
        it = pools_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : gone)
    p->stop_all();
}

void core::tick() {
  auto now = clock::now();
  std::vector<std::shared_ptr<function_pool>> pools;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [_, p] : pools_)
      pools.push_back(p);
    spare_.erase(std::remove_if(spare_.begin(), spare_.end(),
                                [](const std::shared_ptr<process>& p) { return p->exited(); }),
                 spare_.end());
  }
  for (auto& p : pools)
    p->reap(now, opts_.idle);
  while (true) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (spare_.size() >= opts_.pool_size)
        break;
    }
    auto p = start_process();
    if (!p)
      break;
    std::lock_guard<std::mutex> guard{mtx_};
    spare_.push_back(std::move(p));
  }
  logs_.flush();
}

std::shared_ptr<process> core::start_process() {
  auto p = std::make_shared<process>(opts_, next_slot_++);
  if (!p->start())
    return nullptr;
  return p;
}

caf::expected<std::shared_ptr<void>> core::take_memory(const std::string& owner, uint64_t mb) {
  uint64_t budget = opts_.memory_budget_mb;
  if (budget == 0)
    budget = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
             static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) / (1 << 20) * 3 / 4;
  std::lock_guard<std::mutex> guard{mtx_};
  auto& mine = memory_by_owner_[owner];
  if (memory_used_ + mb > budget || mine + mb > budget / 2) {
    auto why = memory_used_ + mb > budget
                   ? "the node's functions hold " + std::to_string(memory_used_) + " of " +
                         std::to_string(budget) + " MiB (runtime_memory_mb)"
                   : "the functions of " + owner + "'s projects hold " + std::to_string(mine) +
                         " MiB, half of the node's " + std::to_string(budget);
    if (mine == 0)
      memory_by_owner_.erase(owner);
    return make_error(ec::unavailable, "no memory for another instance: " + why);
  }
  memory_used_ += mb;
  mine += mb;
  return std::shared_ptr<void>(nullptr, [this, owner, mb](void*) {
    std::lock_guard<std::mutex> again{mtx_};
    memory_used_ -= mb;
    auto it = memory_by_owner_.find(owner);
    if (it != memory_by_owner_.end() && (it->second -= mb) == 0)
      memory_by_owner_.erase(it);
  });
}

std::shared_ptr<process> core::claim_process() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    while (!spare_.empty()) {
      auto p = std::move(spare_.front());
      spare_.erase(spare_.begin());
      if (!p->exited())
        return p;
    }
  }
  return start_process();
}

std::string core::status() const {
  json out = json::array();
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [key, p] : pools_) {
    auto s = p->status();
    s["deployment"] = key.substr(0, key.find('/'));
    out.push_back(std::move(s));
  }
  return json{{"functions", out},
              {"spare_runtimes", spare_.size()},
              {"deployments_loaded", deployments_.size()},
              {"memory_held_mb", memory_used_},
              {"loads_pending", loading_.size()}}
      .dump();
}

} // namespace ferry::runtime
