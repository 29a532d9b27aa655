// ferryd: the one daemon of a ferry node. See --help.
#include "actors/api_server.hpp"
#include "actors/build_dispatcher.hpp"
#include "actors/build_scheduler.hpp"
#include "actors/slot_manager.hpp"
#include "actors/cas_store.hpp"
#include "actors/cluster_certs.hpp"
#include "actors/cluster_config.hpp"
#include "actors/collector.hpp"
#include "actors/repairer.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/replicated_store.hpp"
#include "actors/version_registry.hpp"
#include "actors/http_listener.hpp"
#include "actors/http_routes.hpp"
#include "deployers/local/local_target.hpp"
#include "deployers/local/router.hpp"
#include "messages/errors.hpp"
#include "messages/types.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/egress.hpp"
#include "sandbox/host_id.hpp"
#include "storage/blob_store.hpp"
#include "storage/cache_blob_store.hpp"
#include "storage/metadata_store.hpp"
#include "storage/owner_index.hpp"
#include "storage/secret_box.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace ferry;

namespace {

const char* usage =
    R"(usage: ferryd --data-dir DIR [--config FILE] [--node NAME] [--listen HOST:PORT]

Runs one ferry node. With no --config it is a single node playing every role
(api, storage, build, deploy) with its data under DIR: the embedded default.

  --data-dir DIR       where this node keeps its data (created if missing)
  --config FILE        cluster.conf naming the nodes and their roles
  --node NAME          which node of the cluster this is (needed with several)
  --listen HOST:PORT   HTTP API address (api role); port 0 picks a free port
  --idle-timeout SECS  close API and router connections idle (or stalled
                       mid-request) this long (default 60)
  --max-connections N  API connections served at once; more get 503 (default 256)
  --build-slots N      sandboxed build slots of this node (build role; default 2)
  --builders DIR       the build pipeline (default: the builders/ of the source tree)
  --router-listen HOST:PORT
                       the router serving deployments (deploy role); port 0
                       picks a free port (default: cluster.conf's router, 7701
                       for the embedded node; with --listen a free port)
  --function-idle-ms N stop a function's instance after N ms unused (scale
                       to zero; default 300000)
  --runtime-pool N     generic runtimes kept started for fast cold starts
                       (deploy role; default 2)
  --max-instances N    instances per function at most (default 4)
  --router-max-connections N
                       router connections served at once; more get 503
                       (default 4096)
  --router-threads N   threads of the router, each serving its share of the
                       connections (default 0: half the cores, 1 to 8; the
                       other half is left to the functions)
  --bridge DIR         the function bridge (default: deployers/bridge of the source tree)
  --routes             print the HTTP API's routes (Markdown) and exit
  -h, --help           this text

On start ferryd prints the API URL on stdout, then (deploy role) the
router's URL. Deployments are served at http://ID-PROJECT.DOMAIN:PORT and
production at http://PROJECT.DOMAIN:PORT (DOMAIN from cluster.conf,
default ferry.localhost, which resolves to loopback). On first start it creates the
user "admin" and writes its token to DIR/admin.token (mode 0600).
SIGTERM or SIGINT shut down cleanly within 10 s; a second one exits at once.
)";

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int die(const std::string& msg) {
  std::cerr << "ferryd: " << msg << "\n";
  return 2;
}

/// Creates the admin user on first start and writes its token (0600).
caf::error bootstrap_admin(metadata_store& meta, const fs::path& dir) {
  auto any = meta.any_user();
  if (!any)
    return any.error();
  if (*any)
    return {};
  auto token = new_token();
  auto path = dir / "admin.token";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return make_error(ec::storage_error, "cannot write " + path.string());
  auto line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok)
    return make_error(ec::storage_error, "cannot write " + path.string());
  return meta.add_user(principal{"admin", true}, token, wall_ms());
}

} // namespace

int main(int argc, char** argv) {
  // Upload bodies are megabytes each: keep freed memory in the heap for the
  // next one instead of returning it to the kernel and faulting it back in.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  std::string data_dir, config_file, node_name, listen,
      idle_timeout = "60", max_conns = "256", build_slots, builders = FERRY_BUILDERS_DIR,
      router_listen, fn_idle = "300000", pool = "2", max_inst = "4", bridge = FERRY_BRIDGE_DIR,
      router_threads = "0", router_conns = "4096";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    } else if (a == "--routes") {
      std::cout << api_reference();
      return 0;
    } else if (a == "--data-dir"                 ? !value(data_dir)
               : a == "--config"                 ? !value(config_file)
               : a == "--node"                   ? !value(node_name)
               : a == "--listen"                 ? !value(listen)
               : a == "--idle-timeout"           ? !value(idle_timeout)
               : a == "--max-connections"        ? !value(max_conns)
               : a == "--build-slots"            ? !value(build_slots)
               : a == "--builders"               ? !value(builders)
               : a == "--router-listen"          ? !value(router_listen)
               : a == "--function-idle-ms"       ? !value(fn_idle)
               : a == "--runtime-pool"           ? !value(pool)
               : a == "--max-instances"          ? !value(max_inst)
               : a == "--router-threads"         ? !value(router_threads)
               : a == "--router-max-connections" ? !value(router_conns)
               : a == "--bridge"                 ? !value(bridge)
                                                 : true) {
      std::cerr << "ferryd: bad or incomplete option '" << a << "'\n\n" << usage;
      return 2;
    }
  }
  if (data_dir.empty())
    return die("--data-dir is required (see --help)");
  int idle_s = std::atoi(idle_timeout.c_str()), conns = std::atoi(max_conns.c_str());
  if (idle_s <= 0 || idle_s > 86400)
    return die("--idle-timeout must be 1 to 86400 seconds");
  if (conns <= 0 || conns > 100000)
    return die("--max-connections must be 1 to 100000");
  int slots = 0; // from cluster.conf unless given here
  long idle_fn_ms = std::atol(fn_idle.c_str()), pool_n = std::atol(pool.c_str()),
       max_instances = std::atol(max_inst.c_str());
  if (idle_fn_ms < 100 || idle_fn_ms > 86400000L)
    return die("--function-idle-ms must be 100 to 86400000");
  if (pool_n < 0 || pool_n > 64)
    return die("--runtime-pool must be 0 to 64");
  if (max_instances < 1 || max_instances > 256)
    return die("--max-instances must be 1 to 256");
  long threads_n = std::atol(router_threads.c_str());
  if (threads_n < 0 || threads_n > 64 || (threads_n == 0 && router_threads != "0"))
    return die("--router-threads must be 0 (half the cores) to 64");
  long router_conns_n = std::atol(router_conns.c_str());
  if (router_conns_n < 1 || router_conns_n > 1000000)
    return die("--router-max-connections must be 1 to 1000000");

  cluster_config cluster = default_cluster();
  if (!config_file.empty()) {
    auto parsed = load_cluster_config(config_file);
    if (!parsed)
      return die(reason_of(parsed.error()));
    cluster = std::move(*parsed);
  }
  if (node_name.empty()) {
    if (cluster.nodes.size() != 1)
      return die("--node NAME is required: cluster.conf names several nodes");
    node_name = cluster.nodes.front().name;
  }
  const node_config* me = cluster.find(node_name);
  if (!me)
    return die("node '" + node_name + "' is not in cluster.conf");
  // The actor port is TLS with the cluster's certificates, both ways: a
  // peer without a certificate the cluster CA signed is refused.
  node_cert_paths certs;
  const bool clustered = cluster.nodes.size() > 1;
  if (clustered) {
    auto dir = certs_dir_of(cluster, config_file);
    certs = cert_paths_of(dir, me->name);
    if (auto why = check_node_cert(certs); !why.empty())
      return die("the actor port needs this node's certificate from the cluster CA: " + why +
                 "\n  make them with: ferry admin cluster-certs --config " + config_file +
                 " (writes " + dir + "/; copy ca.pem, " + me->name + ".pem and " + me->name +
                 ".key to this node, keep ca.key away from the nodes)");
  }
  std::string api_addr = listen.empty() ? me->api : listen;
  slots = build_slots.empty() ? static_cast<int>(me->build_slots) : std::atoi(build_slots.c_str());
  if (slots <= 0 || slots > 64)
    return die("--build-slots must be 1 to 64");

  std::error_code fsec;
  fs::create_directories(data_dir, fsec);
  if (fsec)
    return die("cannot create " + data_dir + ": " + fsec.message());

  // Block the shutdown signals in every thread; main waits for them below.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Descriptors: as many as the hard limit allows, and connection caps that
  // fit in them (a router connection may hold one to an instance too), with
  // room for the stores, sandboxes and logs: past a cap a client gets 503,
  // and ferryd never runs out of descriptors for its own work.
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    ::getrlimit(RLIMIT_NOFILE, &nofile);
  }
  shed_connection(-1, {}); // the descriptor kept for answering 503 when out of them
  const long reserved = 256, fds = static_cast<long>(std::min<rlim_t>(nofile.rlim_cur, 1 << 24));
  if (conns + 2 * router_conns_n + reserved > fds) {
    long was_api = conns, was_router = router_conns_n;
    conns = static_cast<int>(std::max(8L, std::min<long>(conns, (fds - reserved) / 4)));
    router_conns_n = std::max(8L, (fds - reserved - conns) / 2);
    std::cerr << "ferryd: " << fds << " descriptors (ulimit -n): at most " << conns
              << " API connections (not " << was_api << ") and " << router_conns_n
              << " router connections (not " << was_router << ")\n";
  }

  std::vector<child_spec> children;
  blob_store_ptr replica; // this node's copy of the cluster's blobs (storage role)
  owner_index_ptr owners;
  std::shared_ptr<metadata_store> meta;
  registry_options reg_opts;
  if (me->roles.count("storage")) {
    auto store = open_rocksdb_blob_store((fs::path(data_dir) / "cas").string());
    if (!store)
      return die(reason_of(store.error()));
    replica = std::move(*store);
  }
  if (me->roles.count("api")) {
    auto index = open_owner_index((fs::path(data_dir) / "owners").string());
    if (!index)
      return die(reason_of(index.error()));
    owners = std::move(*index);
    auto m = metadata_store::open((fs::path(data_dir) / "meta").string());
    if (!m)
      return die(reason_of(m.error()));
    meta = std::move(*m);
    if (auto err = bootstrap_admin(*meta, data_dir))
      return die(reason_of(err));
    auto key = load_or_create_key((fs::path(data_dir) / "secret.key").string());
    if (!key)
      return die(reason_of(key.error()));
    reg_opts.secret_key = std::move(*key);
    reg_opts.domain = cluster.domain;
    reg_opts.max_deploy_bytes = cluster.tenants.max_deploy_mb << 20;
    reg_opts.max_project_bytes = cluster.tenants.max_project_mb << 20;
    reg_opts.max_projects = cluster.tenants.max_projects;
  }

  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  if (clustered) {
    cfg.load<caf::openssl::manager>();
    cfg.set("openssl.certificate", certs.cert);
    cfg.set("openssl.key", certs.key);
    cfg.set("openssl.cafile", certs.ca);
  }
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(5)});
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // A shared queue with a condition variable: idle workers sleep instead of
  // polling, which matters on a 2-core node that also hashes and copies.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{cfg};
  std::vector<cluster_view::node> view_nodes;
  for (auto& n : cluster.nodes)
    view_nodes.push_back(cluster_view::node{n.name, n.roles, false, 0, 0, 0, nullptr});
  auto view = std::make_shared<cluster_view>(me->name, std::move(view_nodes));

  // The cluster's blobs as this node sees them: its replica, then the other
  // storage nodes (replicated_store.hpp); every name and tree checked here.
  replication_options rep;
  rep.replicas = cluster.replication.replicas;
  rep.min_replicas = cluster.replication.min_replicas;
  rep.write_timeout = std::chrono::milliseconds(cluster.replication.write_timeout_ms);
  rep.request_timeout = std::chrono::milliseconds(cluster.replication.failure_timeout_ms);
  blob_store_ptr cache; // a node without a replica keeps what it reads (LRU)
  if (!replica) {
    auto c = open_cache_blob_store((fs::path(data_dir) / "blob-cache").string(),
                                   cluster.replication.cache_mb << 20);
    if (!c)
      return die(reason_of(c.error()));
    cache = std::move(*c);
  }
  blob_store_ptr blobs =
      make_verifying_blob_store(make_replicated_blob_store(sys, view, replica, cache, rep));
  if (replica) // what the other nodes ask of this one's replica (names checked)
    children.push_back(
        child_spec{"store",
                   [&sys, replica](directory_actor) {
                     return caf::actor_cast<caf::actor>(spawn_cas_store(
                         sys, make_verifying_blob_store(replica, false), nullptr, 4));
                   },
                   {},
                   0,
                   0,
                   0});
  if (replica) { // brings every blob back to its copies (repairer.hpp)
    repairer_options ro;
    ro.replicas = cluster.replication.replicas;
    ro.bytes_per_s = cluster.replication.repair_mb_per_s << 20;
    ro.interval = std::chrono::seconds(cluster.replication.repair_interval_s);
    ro.request_timeout = rep.request_timeout;
    children.push_back(child_spec{"repairer",
                                  [&sys, view, replica, ro](directory_actor dir) {
                                    return spawn_repairer(sys, dir, view, replica, ro);
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  }
  if (me->roles.count("api")) { // garbage collection (collector.hpp)
    collector_options co;
    co.keep_versions = cluster.replication.keep_versions;
    co.grace = std::chrono::seconds(cluster.replication.gc_grace_s);
    co.interval = std::chrono::seconds(cluster.replication.gc_interval_s);
    co.request_timeout = rep.request_timeout;
    children.push_back(child_spec{"collector",
                                  [&sys, view, blobs, co](directory_actor dir) {
                                    return spawn_collector(sys, dir, view, blobs, co);
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  }
  if (me->roles.count("api")) // places builds on the build nodes (build_dispatcher.hpp)
    children.push_back(child_spec{"builds",
                                  [&sys](directory_actor dir) {
                                    return caf::actor_cast<caf::actor>(spawn_build_dispatcher(
                                        sys, caf::actor_cast<supervisor_actor>(dir)));
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  if (me->roles.count("api"))
    children.push_back(child_spec{"cas",
                                  [&sys, blobs, owners](directory_actor) {
                                    return caf::actor_cast<caf::actor>(
                                        spawn_cas_store(sys, blobs, owners, 4));
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  if (meta)
    children.push_back(child_spec{"registry",
                                  [&sys, meta, reg_opts](directory_actor) {
                                    return caf::actor_cast<caf::actor>(
                                        spawn_version_registry(sys, meta, wall_ms, reg_opts));
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  sandbox::set_host_id_range(cluster.tenants.sandbox_uid_base, 65536);
  if (me->roles.count("build") || me->roles.count("deploy"))
    if (auto n = sandbox::sweep_stale_cgroups())
      std::cerr << "ferryd: removed " << n << " cgroup(s) left by processes that are gone\n";
  if (me->roles.count("build")) {
    if (!fs::exists(fs::path(builders) / "starter.js"))
      return die("no build pipeline in " + builders + " (give --builders DIR)");
    auto slot_base = (fs::path(data_dir) / "slots").string();
    auto store = build_store::open((fs::path(data_dir) / "builds").string());
    if (!store)
      return die(reason_of(store.error()));
    std::shared_ptr<build_store> builds_db = std::move(*store);
    build_config bc;
    bc.memory_bytes = me->build_memory_mb << 20;
    bc.pids = me->build_pids;
    bc.cpus = me->build_cpus;
    bc.timeout_s = me->build_timeout_s;
    bc.slots = static_cast<uint32_t>(slots);
    bc.node = me->name;
    bc.builders_dir = fs::absolute(builders).string();
    bc.cache_dir = (fs::path(data_dir) / "build-cache").string();
    // with another build node, a dependency cache installed here is shared
    // through the replicated store (build_runner.hpp)
    bc.shared_cache = std::count_if(cluster.nodes.begin(), cluster.nodes.end(),
                                    [](auto& n) { return n.roles.count("build") > 0; }) > 1;
    bc.egress.hosts = cluster.tenants.egress_allow.empty() ? sandbox::default_egress_hosts()
                                                           : cluster.tenants.egress_allow;
    bc.egress.private_ranges = cluster.tenants.egress_private_ranges;
    if (auto why = bc.egress.check(); !why.empty())
      return die("cluster.conf: egress: " + why);
    bc.build_network = cluster.tenants.build_network;
    bc.build_egress.hosts = cluster.tenants.build_egress_allow;
    bc.build_egress.private_ranges = cluster.tenants.egress_private_ranges;
    if (auto why = bc.build_egress.check(); !why.empty())
      return die("cluster.conf: build_egress_allow: " + why);
    bc.output.max_file = cluster.tenants.max_file_mb << 20;
    bc.output.max_total = cluster.tenants.max_deploy_mb << 20;
    bc.max_log_bytes = cluster.tenants.max_build_log_mb << 20;
    children.push_back(child_spec{"slots",
                                  [&sys, slot_base, slots](directory_actor) {
                                    return caf::actor_cast<caf::actor>(spawn_slot_manager(
                                        sys, slot_base, static_cast<uint32_t>(slots)));
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
    children.push_back(child_spec{"builder",
                                  [&sys, blobs, bc, builds_db](directory_actor dir) {
                                    return caf::actor_cast<caf::actor>(
                                        spawn_build_scheduler(sys, blobs, dir, bc, builds_db));
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  }
  std::shared_ptr<runtime::core> runtime_core;
  if (me->roles.count("deploy")) {
    if (!fs::exists(fs::path(bridge) / "bridge.js"))
      return die("no bridge.js in " + bridge + " (give --bridge DIR)");
    runtime::options ro;
    ro.data_dir = (fs::path(data_dir) / "runtime").string();
    ro.bridge_dir = fs::absolute(bridge).string();
    ro.domain = cluster.domain;
    ro.pool_size = static_cast<size_t>(pool_n);
    ro.idle = std::chrono::milliseconds(idle_fn_ms);
    ro.max_instances = static_cast<uint32_t>(max_instances);
    ro.max_log_bytes = cluster.tenants.max_runtime_log_mb << 20;
    ro.memory_budget_mb = cluster.tenants.runtime_memory_mb;
    // the core outlives restarts of its actor; it reaches the registry by name
    runtime_core = std::make_shared<runtime::core>(ro, blobs, nullptr, nullptr);
    children.push_back(child_spec{"runtime",
                                  [&sys, runtime_core](directory_actor dir) {
                                    return caf::actor_cast<caf::actor>(
                                        spawn_local_target(sys, runtime_core, dir));
                                  },
                                  {},
                                  0,
                                  0,
                                  0});
  }
  std::vector<peer_spec> peers;
  bool before_me = true; // (this node dials the nodes listed before it)
  for (auto& n : cluster.nodes) {
    if (n.name == me->name) {
      before_me = false;
      continue;
    }
    peer_spec p;
    p.node = n.name;
    p.dial = before_me;
    split_host_port(n.actors, p.host, p.port);
    for (auto& role : n.roles)
      for (auto& a : actors_of_role(role))
        p.actors.push_back(a);
    peers.push_back(std::move(p));
  }
  supervisor_options sup_opts;
  sup_opts.failure_timeout_ms = cluster.replication.failure_timeout_ms;
  auto supervisor =
      spawn_node_supervisor(sys, me->name, std::move(children), std::move(peers), view, sup_opts);

  if (clustered) { // a lone node has nobody to talk to: no port
    std::string host;
    uint16_t port = 0;
    split_host_port(me->actors, host, port);
    auto published = caf::openssl::publish(supervisor, port, host.c_str(), true);
    if (!published) {
      caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
      return die("cannot publish actors on " + me->actors + ": " + sys.render(published.error()));
    }
    std::cerr << "ferryd: node " << me->name << " actors on " << host << ":" << *published << "\n";
  }

  std::unique_ptr<runtime::router> router;
  uint16_t router_port = 0;
  std::string router_host;
  if (runtime_core) {
    auto dir = caf::actor_cast<directory_actor>(supervisor);
    runtime_core->connect(registry_resolver(sys, dir), registry_env_source(sys, dir));
    // --router-listen, else cluster.conf's router (unless --listen moved the
    // API: then a free port on its host), else a free port on the API's host
    std::string addr = !router_listen.empty() ? router_listen : listen.empty() ? me->router : "";
    if (addr.empty()) {
      std::string h;
      uint16_t p = 0;
      split_host_port(api_addr, h, p);
      addr = (h.empty() ? std::string("127.0.0.1") : h) + ":0";
    }
    if (!split_host_port(addr, router_host, router_port)) {
      caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
      return die("--router-listen must be HOST:PORT, not '" + addr + "'");
    }
    runtime::router_options rop;
    rop.host = router_host;
    rop.port = router_port;
    rop.max_connections = static_cast<size_t>(router_conns_n);
    rop.max_per_client = cluster.tenants.router_client_connections;
    rop.idle_timeout_s = idle_s;
    rop.threads = static_cast<unsigned>(threads_n);
    router = std::make_unique<runtime::router>(*runtime_core, rop);
    auto bound = router->start();
    if (!bound) {
      caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
      return die("router: " + reason_of(bound.error()));
    }
    router_port = *bound;
    set_deployment_urls(cluster.domain, router_port);
  } else {
    for (auto& n : cluster.nodes) // URLs point at the first node that serves them
      if (n.roles.count("deploy") && !n.router.empty()) {
        std::string h;
        uint16_t p = 0;
        split_host_port(n.router, h, p);
        set_deployment_urls(cluster.domain, p);
        break;
      }
  }

  std::unique_ptr<api_server> api;
  if (me->roles.count("api")) {
    std::string host;
    uint16_t port = 0;
    if (!split_host_port(api_addr, host, port)) {
      caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
      return die("--listen must be HOST:PORT, not '" + api_addr + "'");
    }
    set_scratch_dir(data_dir);
    api_options ao;
    ao.host = host;
    ao.port = port;
    ao.max_connections = static_cast<size_t>(conns);
    ao.max_per_client = cluster.tenants.api_client_connections;
    ao.idle_timeout_s = idle_s;
    api = std::make_unique<api_server>(sys, caf::actor_cast<directory_actor>(supervisor), ao);
    auto bound = api->start();
    if (!bound) {
      caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
      return die(reason_of(bound.error()));
    }
    std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::cout << "http://" << shown << ":" << *bound << std::endl;
    std::cerr << "ferryd: node " << me->name << " serving the API on http://" << shown << ":"
              << *bound << " (data in " << data_dir << ")\n";
  } else {
    std::cout << "node " << me->name << std::endl;
  }
  if (router) {
    std::string shown =
        router_host.find(':') != std::string::npos ? "[" + router_host + "]" : router_host;
    std::cout << "http://" << shown << ":" << router_port << std::endl;
    std::cerr << "ferryd: node " << me->name << " routing deployments on http://" << shown << ":"
              << router_port << " (http://ID-PROJECT." << cluster.domain << ":" << router_port
              << ")\n";
  }

  int sig = 0;
  sigwait(&sigs, &sig);
  std::cerr << "ferryd: signal " << sig << ", shutting down\n";
  std::thread([sigs] {
    int again = 0;
    sigwait(&sigs, &again);
    std::cerr << "ferryd: second signal, exiting now\n";
    std::_Exit(130);
  }).detach();
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    std::cerr << "ferryd: shutdown took longer than 10 s, exiting\n";
    std::_Exit(124);
  }).detach();
  if (api)
    api->stop();
  if (router)
    router->stop();
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
  return 0; // the actor system's destructor waits for every actor
}
