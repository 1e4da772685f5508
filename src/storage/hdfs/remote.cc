#include "storage/hdfs/remote.h"

#include <arpa/inet.h>

#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/curl_util.h"

namespace flinkbr::storage::hdfs {

namespace {

size_t append_cb(char* ptr, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > (size_t{16} << 20)) return 0;
  out->append(ptr, size * n);
  return size * n;
}

struct QueueInfo {
  std::string name;  // queueName
  std::string path;  // queuePath when the scheduler gives it, else the name
  std::string state;
};

// Every object with a "queueName" anywhere in the scheduler document: the capacity scheduler
// nests them under queues.queue[], the fair scheduler under childQueues.queue[].
void collect_queues(const nlohmann::json& j, std::vector<QueueInfo>& out) {
  if (j.is_object()) {
    if (auto it = j.find("queueName"); it != j.end() && it->is_string()) {
      QueueInfo q;
      q.name = it->get<std::string>();
      // Members of another type count as absent (value() would throw on them).
      auto path = j.find("queuePath");
      q.path = path != j.end() && path->is_string() ? path->get<std::string>() : q.name;
      auto state = j.find("state");
      q.state = state != j.end() && state->is_string() ? state->get<std::string>() : "";
      out.push_back(std::move(q));
    }
    for (const auto& [k, v] : j.items()) collect_queues(v, out);
  } else if (j.is_array()) {
    for (const auto& v : j) collect_queues(v, out);
  }
}

}  // namespace

Result<NameNodeAddress> parse_namenode_address(const std::string& text, const std::string& ip_mode,
                                               int default_port) {
  auto malformed = [&](const std::string& why) {
    return invalid_argument("namenode_ip",
                            "namenode_ip '" + text + "' is not a NameNode IP address" +
                                (why.empty() ? "" : ": " + why) +
                                " (examples: 192.168.0.10, 192.168.0.10:9870, fd00::10, "
                                "[fd00::10]:9870)");
  };
  if (text.empty())
    return invalid_argument("namenode_ip", "namenode_ip is required for RemoteHDFS");
  if (!ip_mode.empty() && ip_mode != "auto" && ip_mode != "IPv4" && ip_mode != "IPv6")
    return invalid_argument("ip_mode", "ip_mode '" + ip_mode + "' must be auto, IPv4 or IPv6");
  std::string addr;
  std::string port;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return malformed("the '[' is not closed");
    addr = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return malformed("expected ':' and a port after ']'");
      port = text.substr(close + 2);
      if (port.empty()) return malformed("the port is empty");
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    addr = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return malformed("the port is empty");
  } else {
    addr = text;  // an IPv4 address, or an unbracketed IPv6 address (no port then)
  }
  unsigned char buf[16];
  NameNodeAddress out;
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    out.host = addr;
    out.ipv6 = false;
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    out.host = "[" + addr + "]";
    out.ipv6 = true;
  } else {
    return malformed("'" + addr + "' is neither an IPv4 nor an IPv6 address");
  }
  if (text.front() == '[' && !out.ipv6) return malformed("only IPv6 addresses are bracketed");
  if (port.empty()) {
    out.port = default_port;
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return malformed("port '" + port + "' is not a number from 1 to 65535");
    out.port = std::stoi(port);
    if (out.port < 1 || out.port > 65535)
      return malformed("port '" + port + "' is not a number from 1 to 65535");
  }
  if (ip_mode == "IPv4" && out.ipv6)
    return invalid_argument("ip_mode", "ip_mode IPv4 contradicts the IPv6 NameNode address '" +
                                           text + "'; use IPv6 or auto");
  if (ip_mode == "IPv6" && !out.ipv6)
    return invalid_argument("ip_mode", "ip_mode IPv6 contradicts the IPv4 NameNode address '" +
                                           text + "'; use IPv4 or auto");
  return out;
}

Status check_yarn_queue(const YarnOptions& options, const std::string& queue) {
  if (queue.empty())
    return invalid_argument("queue",
                            "queue is required for RemoteHDFS: the YARN queue of the "
                            "local cluster used for the copy");
  if (options.rm_url.empty())
    return failed_precondition(
        "cluster '" + options.cluster + "' has no ResourceManager to check YARN queue '" + queue +
        "' against: set yarn_rm_url in its configuration (e.g. http://resourcemanager:8088)");
  curl::global_init();
  curl::EasyPtr c(curl_easy_init());
  if (!c) return internal_error("curl_easy_init failed");
  std::string base = options.rm_url;
  while (base.ends_with('/')) base.pop_back();
  const std::string url = base + "/ws/v1/cluster/scheduler";
  std::string body;
  curl::Slist headers;
  headers.append("Accept: application/json");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  // A standby ResourceManager redirects to the active one.
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.kerberos) {
    curl_easy_setopt(c.get(), CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_NEGOTIATE));
    curl_easy_setopt(c.get(), CURLOPT_USERPWD, ":");
  }
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, options.timeout_s);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK)
    return make_error(Errc::kUnavailable,
                      "the ResourceManager " + base + " did not answer (checking YARN queue '" +
                          queue + "'): " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)),
                      {}, true);
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    return make_error(Errc::kUnavailable, "the ResourceManager " + base + " answered HTTP " +
                                              std::to_string(status) + " to " +
                                              "/ws/v1/cluster/scheduler (checking YARN queue '" +
                                              queue + "')");
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("scheduler"))
    return io_error("the ResourceManager " + base +
                    " answered /ws/v1/cluster/scheduler without a scheduler document");
  std::vector<QueueInfo> queues;
  collect_queues(j["scheduler"], queues);
  for (const auto& q : queues) {
    if (q.name != queue && q.path != queue && q.path != "root." + queue) continue;
    if (!q.state.empty() && q.state != "RUNNING")
      return failed_precondition("YARN queue '" + queue + "' is " + q.state +
                                 ", not RUNNING, on the ResourceManager " + base);
    return ok();
  }
  std::string names;
  for (const auto& q : queues)
    if (q.name != "root") names += (names.empty() ? "" : ", ") + q.name;
  return failed_precondition("YARN queue '" + queue + "' does not exist on the ResourceManager " +
                             base + (names.empty() ? "" : " (its queues: " + names + ")"));
}

}  // namespace flinkbr::storage::hdfs
