#include "messages/types.hpp"

#include "deployers/target.hpp"
#include "messages/build.hpp"
#include "messages/errors.hpp"
#include "messages/node.hpp"
#include "messages/registry.hpp"
#include "messages/storage.hpp"

namespace ferry {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<blob_ref>("ferry.blob_ref");
  cfg.add_message_type<std::vector<blob_ref>>("ferry.blob_refs");
  cfg.add_message_type<blob>("ferry.blob");
  cfg.add_message_type<std::vector<blob>>("ferry.blobs");
  cfg.add_message_type<put_blobs>("ferry.put_blobs");
  cfg.add_message_type<blob_pack>("ferry.blob_pack");
  cfg.add_message_type<put_ack>("ferry.put_ack");
  cfg.add_message_type<find_missing>("ferry.find_missing");
  cfg.add_message_type<walk_request>("ferry.walk_request");
  cfg.add_message_type<missing_set>("ferry.missing_set");
  cfg.add_message_type<std::vector<uint32_t>>("ferry.u32s");
  cfg.add_message_type<tree_stats>("ferry.tree_stats");
  cfg.add_message_type<principal>("ferry.principal");
  cfg.add_message_type<project_info>("ferry.project_info");
  cfg.add_message_type<std::vector<project_info>>("ferry.project_infos");
  cfg.add_message_type<version_info>("ferry.version_info");
  cfg.add_message_type<std::vector<version_info>>("ferry.version_infos");
  cfg.add_message_type<new_version>("ferry.new_version");
  cfg.add_message_type<seal_version>("ferry.seal_version");
  cfg.add_message_type<alias_info>("ferry.alias_info");
  cfg.add_message_type<std::vector<alias_info>>("ferry.alias_infos");
  cfg.add_message_type<alias_change>("ferry.alias_change");
  cfg.add_message_type<deployment_ref>("ferry.deployment_ref");
  cfg.add_message_type<env_change>("ferry.env_change");
  cfg.add_message_type<domain_info>("ferry.domain_info");
  cfg.add_message_type<std::vector<domain_info>>("ferry.domain_infos");
  cfg.add_message_type<domain_change>("ferry.domain_change");
  cfg.add_message_type<log_page>("ferry.log_page");
  cfg.add_message_type<env_entry>("ferry.env_entry");
  cfg.add_message_type<dep_cache_info>("ferry.dep_cache_info");
  cfg.add_message_type<std::vector<env_entry>>("ferry.env_entries");
  cfg.add_message_type<actor_status>("ferry.actor_status");
  cfg.add_message_type<std::vector<actor_status>>("ferry.actor_statuses");
  cfg.add_message_type<member_status>("ferry.member_status");
  cfg.add_message_type<std::vector<member_status>>("ferry.member_statuses");
  cfg.add_message_type<located_actor>("ferry.located_actor");
  cfg.add_message_type<std::vector<located_actor>>("ferry.located_actors");
  cfg.add_message_type<build_spec>("ferry.build_spec");
  cfg.add_message_type<build_load>("ferry.build_load");
  cfg.add_message_type<build_status>("ferry.build_status");
  cfg.add_message_type<std::vector<build_status>>("ferry.build_statuses");
  cfg.add_message_type<log_line>("ferry.log_line");
  cfg.add_message_type<std::vector<log_line>>("ferry.log_lines");
  cfg.add_message_type<slot_lease>("ferry.slot_lease");
  cfg.add_message_type<range_digest>("ferry.range_digest");
  cfg.add_message_type<sweep_report>("ferry.sweep_report");
  cfg.add_message_type<std::vector<sweep_report>>("ferry.sweep_reports");
  cfg.add_message_type<gc_summary>("ferry.gc_summary");
  cfg.add_message_type<gc_roots>("ferry.gc_roots");
  cfg.add_message_type<repair_status>("ferry.repair_status");
  cfg.add_message_type<std::vector<std::string>>("ferry.strings");
  cfg.add_error_category(error_category(),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           std::string s{to_string(static_cast<ec>(code))};
                           if (ctx.match_elements<std::string>())
                             s += ": " + ctx.get_as<std::string>(0);
                           return s;
                         });
}

} // namespace ferry
