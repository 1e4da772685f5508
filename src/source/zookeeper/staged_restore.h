// The zookeeper source's restore (MetadataSource::begin_restore): the payload parts are staged
// into a file under the task's staging directory, parsed and validated by finish_staging() into
// a StagedIndex (staged_index.h) without the data; diff(), commit() and verify() compare the
// live tree with the index in one ordered pass, holding neither, and commit() reads the staging
// file again, in order, for the data it has to write.
//
// commit() is a list of named steps (staged_restore.cc): compare the live tree with the staged
// one (spooling what differs), create the root's missing ancestors, delete what the backup does
// not hold (children first), write data and create znodes (parents first, a temporary open ACL
// where the final one would forbid creating the children), set the final ACLs (children first).
//
// Not thread-safe: one task thread uses it.
#pragma once

#include <memory>
#include <string>

#include "source/metadata_source.h"
#include "source/zookeeper/session.h"

namespace flinkbr::source::zookeeper {

// Starts a restore of source `source_name` (for messages) with parameters `p`. Creates its
// staging files under ctx.staging_dir, named after the source and ctx.id.
[[nodiscard]] Result<std::unique_ptr<StagedRestore>> begin_restore(const Params& p,
                                                                   const std::string& source_name,
                                                                   const TaskContext& ctx);

}  // namespace flinkbr::source::zookeeper
