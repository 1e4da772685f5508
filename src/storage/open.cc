#include "storage/open.h"

#include "storage/local/local_driver.h"
#include "storage/s3/s3_driver.h"

namespace flinkbr::storage {

Result<std::unique_ptr<Storage>> open_storage(const Location& location,
                                              const config::ClusterConfig* cluster) {
  switch (location.type) {
    case PathType::kLocalDir:
      return std::make_unique<Storage>(make_local_driver());
    case PathType::kOBS: {
      if (!cluster || cluster->obs.endpoint.empty()) {
        return invalid_argument("obs.endpoint", "the cluster has no OBS endpoint (obs.endpoint)");
      }
      return std::make_unique<Storage>(TRY(make_s3_driver(cluster->obs)));
    }
    case PathType::kLocalHDFS:
    case PathType::kRemoteHDFS:
      break;
  }
  return failed_precondition("path type " + std::string(to_string(location.type)) +
                             " is not supported by this build yet");
}

}  // namespace flinkbr::storage
