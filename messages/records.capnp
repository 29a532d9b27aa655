@0x90db7603f00bca59;
# Records that ferry keeps in RocksDB and the compact binary bodies of the
# client protocol. Fields are only ever added (with new ordinals), so records
# written by an older ferry stay readable.

$import "/capnp/c++.capnp".namespace("ferry::rec");

struct User {
  name @0 :Text;
  admin @1 :Bool;
  createdMs @2 :Int64;
}

# Stored under the SHA-256 of the token; the token itself is never stored.
struct Token {
  user @0 :Text;
  label @1 :Text;
  createdMs @2 :Int64;
}

struct Project {
  name @0 :Text;
  owner @1 :Text;
  createdMs @2 :Int64;
  nextNumber @3 :UInt64;
}

#   created --seal--> sealed   (later: queued, building, built, deploying, ready)
#      |
#      +--(manifest replaced while created)
enum VersionState {
  created @0;
  uploading @1;
  sealed @2;
  queued @3;
  building @4;
  built @5;
  deploying @6;
  ready @7;
  failed @8;
  canceled @9;
  removed @10;            # `ferry rm`: no longer served; its records stay
}

struct Version {
  id @0 :Text;
  project @1 :Text;
  number @2 :UInt64;
  state @3 :VersionState;
  root @4 :Text;          # hex SHA-256 of the root directory node, once known
  files @5 :UInt64;
  bytes @6 :UInt64;
  createdMs @7 :Int64;
  sealedMs @8 :Int64;
  createdBy @9 :Text;
  manifest @10 :Manifest; # a flat manifest, kept until sealing turns it into a tree
  build @11 :Text;        # the latest build of this version
  artifact @12 :Text;     # root of the latest successful build's output tree
  target @13 :Text;       # "production" or "preview": whose environment it runs with
}

# A host name that points at a deployment (column family "aliases", key: host).
# The production alias of project P is P.<domain>; moving it keeps the
# deployments it pointed at before (newest last) for `ferry rollback`.
struct Alias {
  host @0 :Text;
  project @1 :Text;
  deployment @2 :Text;
  production @3 :Bool;
  history @4 :List(Text);
  updatedMs @5 :Int64;
  updatedBy @6 :Text;
}

# A domain an admin assigned to a project (column family "domains", key: the
# name): the project's custom aliases may be the name or below it.
struct Domain {
  name @0 :Text;
  project @1 :Text;
  addedMs @2 :Int64;
  addedBy @3 :Text;
}

# One environment variable of a project (column family "env", key: project,
# NUL, environment, NUL, name). The value is sealed: AES-256-GCM under the
# node's secret key, nonce (12 bytes) | ciphertext | tag (16 bytes), with
# project, environment and name as associated data.
struct EnvVar {
  project @0 :Text;
  environment @1 :Text;
  name @2 :Text;
  sealed @3 :Data;
  updatedMs @4 :Int64;
  updatedBy @5 :Text;
}

# A project's dependency cache in the cluster (column family "dep_caches",
# key: project, NUL, key): the tree of an installed node_modules, stored in
# the replicated blob store (namespace tree), named by the lockfile's hash.
struct DepCache {
  project @0 :Text;
  key @1 :Text;
  root @2 :Text;
  bytes @3 :UInt64;
  usedMs @4 :Int64;
}

enum EntryKind {
  file @0;
  executable @1;
  symlink @2;
}

# A flat list of the files of a tree: the compact body of
# POST /v1/projects/NAME/versions (Content-Type: application/x-ferry-manifest).
struct Manifest {
  entries @0 :List(Entry);
  struct Entry {
    path @0 :Text;
    kind @1 :EntryKind;
    size @2 :UInt64;
    hash @3 :Text;        # hex SHA-256 of the content (files)
    target @4 :Text;      # link target (symlinks)
  }
}

# A build as the build scheduler keeps it (DATA/builds, column family "builds").
struct Build {
  id @0 :Text;
  versionId @1 :Text;
  project @2 :Text;
  state @3 :Text;
  artifactRoot @4 :Text;
  artifactFiles @5 :UInt64;
  artifactBytes @6 :UInt64;
  error @7 :Text;
  queuedMs @8 :Int64;
  startedMs @9 :Int64;
  finishedMs @10 :Int64;
  logLines @11 :UInt64;
  sourceRoot @12 :Text;
  noCache @13 :Bool;
  slotAcquireUs @14 :UInt64;
  user @15 :Text; # who made the version: the build's requests are in its name
}

# One line of a build log (column family "logs", key: build id, NUL, big-endian sequence).
struct LogLine {
  ms @0 :Int64;
  stream @1 :UInt8;
  text @2 :Text;
}
