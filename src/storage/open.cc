#include "storage/open.h"

#include "storage/local/local_driver.h"

namespace flinkbr::storage {

Result<std::unique_ptr<Storage>> open_storage(const Location& location,
                                              const config::ClusterConfig* cluster) {
  (void)cluster;  // the HDFS and OBS drivers take their settings from it
  switch (location.type) {
    case PathType::kLocalDir:
      return std::make_unique<Storage>(make_local_driver());
    case PathType::kLocalHDFS:
    case PathType::kRemoteHDFS:
    case PathType::kOBS:
      break;
  }
  return failed_precondition("path type " + std::string(to_string(location.type)) +
                             " is not supported by this build yet");
}

}  // namespace flinkbr::storage
