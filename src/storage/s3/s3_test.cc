// OBS driver tests: Signature V4 against AWS's published examples, the credentials rules, the
// driver against a real @20minutes/s3rver (s3rver_fixture.h), and the multipart abort and retry
// paths against a scripted httplib server (s3rver answers 405 to AbortMultipartUpload).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "storage/open.h"
#include "storage/s3/credentials.h"
#include "storage/s3/s3_driver.h"
#include "storage/s3/s3rver_fixture.h"
#include "storage/s3/sigv4.h"

namespace flinkbr::storage {
namespace {

namespace fs = std::filesystem;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

Status put(Storage& s, const std::string& path, std::string_view data, size_t step = 7001) {
  auto w = TRY(s.open_write(path, {.overwrite = true}));
  for (size_t pos = 0; pos < data.size(); pos += step) {
    TRY(w->write(io::as_bytes(data.substr(pos, std::min(step, data.size() - pos)))));
  }
  return w->finish();
}

Result<std::string> get(Storage& s, const std::string& path) {
  auto r = TRY(s.open_read(path));
  return io::read_all(*r, size_t{1} << 30);
}

// ---- Signature V4 ----

// The "get-vanilla" case of AWS's Signature V4 test suite.
TEST(SigV4Test, AwsTestSuiteGetVanilla) {
  s3::SignInput in;
  in.method = "GET";
  in.canonical_uri = "/";
  in.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  in.payload_hash = std::string(s3::kEmptyPayloadHash);
  in.amz_date = "20150830T123600Z";
  in.region = "us-east-1";
  in.service = "service";
  auto s = s3::sign(in, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"});
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n" +
                std::string(s3::kEmptyPayloadHash));
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// The derived signing key example of the Signature V4 documentation.
TEST(SigV4Test, SigningKeyExample) {
  EXPECT_EQ(s3::hex(s3::signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
                                    "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

// The GET Object example of the S3 Signature V4 documentation (header-based auth).
TEST(SigV4Test, S3GetObjectExample) {
  s3::SignInput in;
  in.method = "GET";
  in.canonical_uri = "/test.txt";
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Range", "bytes=0-9"},
                {"x-amz-content-sha256", std::string(s3::kEmptyPayloadHash)},
                {"x-amz-date", "20130524T000000Z"}};
  in.payload_hash = std::string(s3::kEmptyPayloadHash);
  in.amz_date = "20130524T000000Z";
  in.region = "us-east-1";
  auto s = s3::sign(in, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"});
  EXPECT_EQ(s.signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, UriEncodeAndCanonicalQuery) {
  EXPECT_EQ(s3::uri_encode("a b/c~d*é", true), "a%20b/c~d%2A%C3%A9");
  EXPECT_EQ(s3::uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(s3::canonical_query({{"uploads", ""}, {"b", "2 3"}, {"a", "x/y"}}),
            "a=x%2Fy&b=2%203&uploads=");
}

// ---- credentials ----

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "flinkbr-cred-XXXXXX").string();
    ASSERT_TRUE(::mkdtemp(pattern.data()));
    dir_ = pattern;
    file_ = dir_ + "/obs.cred";
    std::ofstream(file_) << "# test\n[other]\naws_access_key_id = NOPE\n\n[default]\n"
                            "aws_access_key_id = AKTEST\naws_secret_access_key=SeCrEtVaLuE42\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_, file_;
};

TEST_F(CredentialsTest, OwnerOnlyFileIsRead) {
  ASSERT_EQ(::chmod(file_.c_str(), 0600), 0);
  auto c = s3::load_credentials(file_);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key, "AKTEST");
  EXPECT_EQ(c->secret_key, "SeCrEtVaLuE42");
}

TEST_F(CredentialsTest, FileReadableByOthersIsRefused) {
  for (mode_t mode : {0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(file_.c_str(), mode), 0);
    auto c = s3::load_credentials(file_);
    ASSERT_FALSE(c) << std::oct << mode;
    EXPECT_EQ(c.error().code, Errc::kPermissionDenied);
    EXPECT_NE(c.error().message.find(file_), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find("chmod 600"), std::string::npos) << c.error().message;
    EXPECT_EQ(c.error().message.find("SeCrEtVaLuE42"), std::string::npos);
  }
}

TEST_F(CredentialsTest, MissingKeysAndMissingFile) {
  std::ofstream(file_) << "[default]\naws_access_key_id = AKTEST\n";
  ASSERT_EQ(::chmod(file_.c_str(), 0600), 0);
  auto c = s3::load_credentials(file_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(c.error().field, "obs.credentials_file");
  auto missing = s3::load_credentials(dir_ + "/none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

TEST_F(CredentialsTest, EnvironmentWithoutFile) {
  ::setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  auto c = s3::load_credentials("");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key, "AKENV");
  EXPECT_EQ(c->secret_key, "envsecret");
  auto none = s3::load_credentials("");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kFailedPrecondition);
}

TEST_F(CredentialsTest, OpenStorageForObs) {
  ASSERT_EQ(::chmod(file_.c_str(), 0600), 0);
  config::ClusterConfig cluster;
  auto none = open_storage({.type = PathType::kOBS}, &cluster);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(none.error().field, "obs.endpoint");
  auto null_cluster = open_storage({.type = PathType::kOBS}, nullptr);
  ASSERT_FALSE(null_cluster);
  EXPECT_EQ(null_cluster.error().field, "obs.endpoint");

  cluster.obs = {.endpoint = "ftp://obs.example.com", .credentials_file = file_};
  auto bad = open_storage({.type = PathType::kOBS}, &cluster);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "obs.endpoint");

  cluster.obs = {.endpoint = "https://obs.example.com", .region = "r1", .credentials_file = file_};
  auto s = open_storage({.type = PathType::kOBS}, &cluster);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->kind(), "OBS");
}

// ---- against a real s3rver ----

class S3rverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& server = testing::S3rver::instance();
    ASSERT_TRUE(server.error().empty()) << server.error();
    std::random_device rd;
    prefix_ = std::string(testing::S3rver::kBucket) + "/t-" + std::to_string(rd()) + "/";
  }
  std::unique_ptr<Storage> storage(S3Options o) {
    auto d = make_s3_driver(std::move(o));
    EXPECT_TRUE(d) << d.error().message;
    return d ? std::make_unique<Storage>(std::move(*d)) : nullptr;
  }
  S3Options options() const { return testing::S3rver::instance().options(); }
  std::string prefix_;
};

TEST_F(S3rverTest, MultipartRoundTripWithSmallParts) {
  S3Options o = options();
  o.part_size = 64 * 1024;
  o.read_chunk = 100000;
  auto s = storage(o);
  ASSERT_TRUE(s);
  const std::string data = random_bytes(1024 * 1024 + 123, 7);  // 17 parts
  auto st = put(*s, prefix_ + "backup.tar.gz", data, 50000);
  ASSERT_TRUE(st) << st.error().message;
  auto info = s->stat(prefix_ + "backup.tar.gz");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->size, data.size());
  auto back = get(*s, prefix_ + "backup.tar.gz");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->size(), data.size());
  EXPECT_TRUE(*back == data);
}

TEST_F(S3rverTest, UnfinishedMultipartLeavesNoObject) {
  S3Options o = options();
  o.part_size = 64 * 1024;
  auto s = storage(o);
  ASSERT_TRUE(s);
  {
    auto w = s->open_write(prefix_ + "f");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(300000, 8))));  // 4 parts uploaded
  }  // abort (s3rver answers 405; the object must not exist either way)
  auto st = s->stat(prefix_ + "f");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

TEST_F(S3rverTest, ListingLongerThanOnePage) {
  S3Options o = options();
  o.list_page_size = 2;
  auto s = storage(o);
  ASSERT_TRUE(s);
  std::vector<std::string> want;
  for (int i = 0; i < 7; ++i) {
    std::string name = "obj-" + std::to_string(i);
    ASSERT_TRUE(put(*s, prefix_ + "dir/" + name, name));
    want.push_back(prefix_ + "dir/" + name);
  }
  ASSERT_TRUE(put(*s, prefix_ + "dir/sub/deep", "x"));
  want.push_back(prefix_ + "dir/sub");
  auto l = s->list(prefix_ + "dir");
  ASSERT_TRUE(l) << l.error().message;
  std::vector<std::string> got;
  for (const auto& f : *l) got.push_back(f.path);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_F(S3rverTest, WrongSecretIsRefusedAndChangesNothing) {
  S3Options o = options();
  o.credentials.secret_key = "NotTheSecret9876";
  auto bad = storage(o);
  ASSERT_TRUE(bad);
  auto st = put(*bad, prefix_ + "f", "data");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kPermissionDenied);
  EXPECT_NE(st.error().message.find(
                "OBS rejected the request signature (check the access key and secret key)"),
            std::string::npos)
      << st.error().message;
  EXPECT_EQ(st.error().message.find("NotTheSecret9876"), std::string::npos);
  auto head = bad->stat(prefix_ + "f");
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().code, Errc::kPermissionDenied) << head.error().message;

  auto good = storage(options());
  auto l =
      good->list(std::string(testing::S3rver::kBucket) + "/" +
                 prefix_.substr(prefix_.find('/') + 1, prefix_.size() - prefix_.find('/') - 2));
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, Errc::kNotFound);
  EXPECT_EQ(good->stat(prefix_ + "f").error().code, Errc::kNotFound);
}

TEST_F(S3rverTest, MissingObjectAndBucket) {
  auto s = storage(options());
  ASSERT_TRUE(s);
  const std::string path = prefix_ + "missing.tar.gz";
  auto r = s->open_read(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
  auto st = s->stat(path);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  auto rm = s->remove(path);
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error().code, Errc::kNotFound);
  auto nb = s->open_read("no-such-bucket-x/key");
  ASSERT_FALSE(nb);
  EXPECT_EQ(nb.error().code, Errc::kNotFound);
  EXPECT_NE(nb.error().message.find("no-such-bucket-x"), std::string::npos) << nb.error().message;
}

// ---- scripted server: multipart failures, retries, resumed reads ----

class ScriptedS3 {
 public:
  ScriptedS3() {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_);
      check(req);
      if (req.has_param("uploads")) {
        res.set_content(
            "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
            "</InitiateMultipartUploadResult>",
            "application/xml");
        return;
      }
      ++completes;
      if (complete_status != 200) {
        res.status = complete_status;
        res.set_content("<Error><Code>InvalidPart</Code><Message>bad part</Message></Error>",
                        "application/xml");
        return;
      }
      std::string all;
      for (auto& [n, p] : parts) all += p;
      objects[req.path] = all;
      res.set_content("<CompleteMultipartUploadResult/>", "application/xml");
    });
    server_.Put(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_);
      check(req);
      if (!req.has_param("partNumber")) {
        if (req.has_header("If-None-Match")) {
          if (no_conditionals) {
            res.status = 501;
            res.set_content("<Error><Code>NotImplemented</Code><Message>no</Message></Error>",
                            "application/xml");
            return;
          }
          if (objects.count(req.path)) {
            res.status = 412;
            res.set_content("<Error><Code>PreconditionFailed</Code><Message>x</Message></Error>",
                            "application/xml");
            return;
          }
        }
        objects[req.path] = req.body;
        return;
      }
      int n = std::stoi(req.get_param_value("partNumber"));
      ++part_attempts[n];
      if (n == fail_part) {
        res.status = 500;
        res.set_content("<Error><Code>InternalError</Code><Message>no</Message></Error>",
                        "application/xml");
        return;
      }
      if (slow_down_part == n && part_attempts[n] == 1) {
        res.status = 503;
        res.set_content("<Error><Code>SlowDown</Code><Message>slow</Message></Error>",
                        "application/xml");
        return;
      }
      parts[n] = req.body;
      res.set_header("ETag", "\"etag-" + std::to_string(n) + "\"");
    });
    server_.Delete(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_);
      check(req);
      if (req.has_param("uploadId")) {
        aborted_ids.push_back(req.get_param_value("uploadId"));
      } else {
        objects.erase(req.path);
      }
      res.status = 204;
    });
    server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_);
      check(req);
      auto it = objects.find(req.path);
      if (it == objects.end()) {
        res.status = 404;
        res.set_content("<Error><Code>NoSuchKey</Code><Message>none</Message></Error>",
                        "application/xml");
        return;
      }
      gets.push_back(req.get_header_value("Range"));
      std::string data = it->second;
      if (req.method == "HEAD" || !drop_once) {
        res.set_content(data, "application/octet-stream");
        return;
      }
      drop_once = false;
      // Sends the first half, then drops the connection.
      res.set_content_provider(data.size(), "application/octet-stream",
                               [data](size_t offset, size_t length, httplib::DataSink& sink) {
                                 size_t half = data.size() / 2;
                                 if (offset >= half) return false;
                                 sink.write(data.data() + offset, std::min(length, half - offset));
                                 return true;
                               });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~ScriptedS3() {
    server_.stop();
    thread_.join();
  }

  Storage storage(size_t part_size) {
    S3Options o;
    o.endpoint = "http://127.0.0.1:" + std::to_string(port_);
    o.credentials = {"AK", "SK"};
    o.part_size = part_size;
    o.allow_small_parts = true;
    o.max_attempts = 3;
    o.retry_base_ms = 1;
    return Storage(make_s3_driver(o).value());
  }

  void check(const httplib::Request& req) {
    hosts.push_back(req.get_header_value("Host"));
    if (!req.has_header("Authorization") || !req.has_header("x-amz-content-sha256") ||
        !req.has_header("x-amz-date")) {
      unsigned_requests++;
    }
  }

  std::mutex m_;
  int fail_part = 0;
  int slow_down_part = 0;
  int complete_status = 200;
  bool drop_once = false;
  bool no_conditionals = false;  // answer 501 to If-None-Match
  int completes = 0;
  int unsigned_requests = 0;
  std::map<int, int> part_attempts;
  std::map<int, std::string> parts;
  std::map<std::string, std::string> objects;  // by request path "/bucket/key"
  std::vector<std::string> aborted_ids;
  std::vector<std::string> gets;
  std::vector<std::string> hosts;
  int port() const { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(ScriptedS3Test, FailedPartAbortsTheUpload) {
  ScriptedS3 server;
  server.fail_part = 2;
  Storage s = server.storage(1000);
  auto w = s.open_write("b/dir/backup.tar.gz");
  ASSERT_TRUE(w);
  auto st = (*w)->write(io::as_bytes(random_bytes(3500, 1)));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("part 2"), std::string::npos) << st.error().message;
  EXPECT_FALSE((*w)->finish());
  w->reset();
  std::lock_guard lock(server.m_);
  EXPECT_EQ(server.part_attempts[2], 3);  // retried on 500
  EXPECT_EQ(server.aborted_ids, std::vector<std::string>{"up-1"});
  EXPECT_EQ(server.completes, 0);
  EXPECT_TRUE(server.objects.empty());
  EXPECT_EQ(server.unsigned_requests, 0);
}

TEST(ScriptedS3Test, FailedCompleteAbortsTheUpload) {
  ScriptedS3 server;
  server.complete_status = 400;
  Storage s = server.storage(1000);
  auto w = s.open_write("b/backup.tar.gz");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(2500, 2))));
  auto st = (*w)->finish();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("InvalidPart"), std::string::npos) << st.error().message;
  std::lock_guard lock(server.m_);
  EXPECT_EQ(server.aborted_ids, std::vector<std::string>{"up-1"});
  EXPECT_TRUE(server.objects.empty());
}

TEST(ScriptedS3Test, UnfinishedWriterAbortsTheUpload) {
  ScriptedS3 server;
  Storage s = server.storage(1000);
  {
    auto w = s.open_write("b/backup.tar.gz");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(2500, 3))));
  }
  std::lock_guard lock(server.m_);
  EXPECT_EQ(server.parts.size(), 2u);
  EXPECT_EQ(server.aborted_ids, std::vector<std::string>{"up-1"});
  EXPECT_EQ(server.completes, 0);
  EXPECT_TRUE(server.objects.empty());
}

TEST(ScriptedS3Test, SlowDownIsRetried) {
  ScriptedS3 server;
  server.slow_down_part = 1;
  Storage s = server.storage(1000);
  const std::string data = random_bytes(2500, 4);
  ASSERT_TRUE(put(s, "b/f", data, 2500));
  std::lock_guard lock(server.m_);
  EXPECT_EQ(server.part_attempts[1], 2);
  EXPECT_EQ(server.objects["/b/f"], data);
  EXPECT_TRUE(server.aborted_ids.empty());
}

TEST(ScriptedS3Test, ReadResumesAfterADroppedConnection) {
  ScriptedS3 server;
  const std::string data = random_bytes(200000, 5);
  server.objects["/b/f"] = data;
  server.drop_once = true;
  Storage s = server.storage(1000);
  auto back = get(s, "b/f");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == data);
  std::lock_guard lock(server.m_);
  // HEAD, the GET that broke, and a ranged GET from the byte reached.
  ASSERT_GE(server.gets.size(), 3u);
  EXPECT_EQ(server.gets[1], "bytes=0-199999");
  EXPECT_NE(server.gets.back(), "bytes=0-199999");
  EXPECT_TRUE(server.gets.back().ends_with("-199999")) << server.gets.back();
}

// overwrite=false sends If-None-Match: * and falls back to the plain PUT where the store does not
// implement it.
TEST(ScriptedS3Test, ConditionalPutAndItsFallback) {
  ScriptedS3 server;
  Storage s = server.storage(1000);
  ASSERT_TRUE(put(s, "b/f", "one"));  // overwrite=true: unconditional
  auto w = s.open_write("b/g", {.overwrite = false});
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->write(io::as_bytes("two")));
  ASSERT_TRUE((*w)->finish());
  server.no_conditionals = true;
  auto w2 = s.open_write("b/h", {.overwrite = false});
  ASSERT_TRUE(w2);
  ASSERT_TRUE((*w2)->write(io::as_bytes("three")));
  auto st = (*w2)->finish();
  ASSERT_TRUE(st) << st.error().message;
  std::lock_guard lock(server.m_);
  EXPECT_EQ(server.objects["/b/g"], "two");
  EXPECT_EQ(server.objects["/b/h"], "three");
}

// An endpoint given by name is addressed virtual-hosted style: the bucket goes into the host name
// (*.localhost resolves to the loopback address) and the key alone into the path.
TEST(ScriptedS3Test, VirtualHostedAddressingForAHostName) {
  ScriptedS3 server;
  S3Options o;
  o.endpoint = "http://localhost:" + std::to_string(server.port());
  o.credentials = {"AK", "SK"};
  auto d = make_s3_driver(o);
  ASSERT_TRUE(d) << d.error().message;
  Storage s(std::move(*d));
  ASSERT_TRUE(put(s, "bkt/dir/f", "hello"));
  std::lock_guard lock(server.m_);
  EXPECT_EQ(server.objects["/dir/f"], "hello");
  ASSERT_FALSE(server.hosts.empty());
  EXPECT_EQ(server.hosts.back(), "bkt.localhost:" + std::to_string(server.port()));
  EXPECT_EQ(server.unsigned_requests, 0);
}

}  // namespace
}  // namespace flinkbr::storage
