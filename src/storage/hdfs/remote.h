// What a RemoteHDFS location needs besides the WebHDFS client: the NameNode address a user
// types (an IP address with an optional port, checked against the IP mode), and the check of a
// YARN queue against the local cluster's ResourceManager.
#pragma once

#include <string>

#include "common/result.h"

namespace flinkbr::storage::hdfs {

struct NameNodeAddress {
  std::string host;  // "10.0.0.5" or "[fd00::5]" (bracketed, ready for a URL)
  int port = 0;
  bool ipv6 = false;
  std::string authority() const { return host + ":" + std::to_string(port); }
};

// Parses "10.0.0.5", "10.0.0.5:9870", "fd00::5", "[fd00::5]" or "[fd00::5]:9870" (an IPv6
// address with a port must be bracketed). ip_mode is "", "auto", "IPv4" or "IPv6": auto decides
// from the address; IPv4/IPv6 with an address of the other family is refused (field "ip_mode").
// A malformed address or port is kInvalidArgument naming "namenode_ip". Host names are refused:
// the parameter is an IP address.
[[nodiscard]] Result<NameNodeAddress> parse_namenode_address(const std::string& text,
                                                             const std::string& ip_mode,
                                                             int default_port);

struct YarnOptions {
  std::string rm_url;   // the cluster's yarn_rm_url; empty: refused, saying what to configure
  std::string cluster;  // for messages
  bool kerberos = false;
  std::string ca_file;
  long timeout_s = 15;
};

// Ok when `queue` is a queue in RUNNING state on the ResourceManager (GET
// /ws/v1/cluster/scheduler; nested queues of the capacity scheduler, and the fair scheduler's,
// whose queues have no state and count as running). The queue may be named by its leaf name
// ("etl") or its full path ("root.etl"). kFailedPrecondition naming the queue when it is missing
// or not RUNNING; kUnavailable when the ResourceManager does not answer.
[[nodiscard]] Status check_yarn_queue(const YarnOptions& options, const std::string& queue);

}  // namespace flinkbr::storage::hdfs
