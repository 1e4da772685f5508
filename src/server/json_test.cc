#include "server/json.h"

#include <gtest/gtest.h>

namespace flinkbr::server {
namespace {

constexpr FieldRule kRules[] = {
    {"name"}, {"max_copies", FieldType::kInteger}, {"dry_run", FieldType::kBoolean}};

Error parse_error(std::string_view body, bool allow_empty = false) {
  auto r = parse_request(body, kRules, allow_empty);
  EXPECT_FALSE(r.has_value()) << body;
  return r ? Error{} : r.error();
}

TEST(ParseRequest, AcceptsKnownFieldsOfTheRightType) {
  auto r = parse_request(R"({"name":"t1","max_copies":3,"dry_run":true})", kRules);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(string_field(*r, "name"), "t1");
  EXPECT_EQ(int_field(*r, "max_copies"), 3);
  EXPECT_TRUE(bool_field(*r, "dry_run"));
}

TEST(ParseRequest, NullIsAbsent) {
  auto r = parse_request(R"({"name":null})", kRules);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->contains("name"));
  EXPECT_EQ(string_field(*r, "name"), "");
}

TEST(ParseRequest, EmptyBody) {
  EXPECT_EQ(parse_error("").field, "body");
  EXPECT_EQ(parse_error("  \n").field, "body");
  auto r = parse_request("", kRules, /*allow_empty=*/true);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_object());
  EXPECT_TRUE(r->empty());
}

TEST(ParseRequest, NotJsonOrNotAnObject) {
  for (const char* body : {"{", "nope", "[1,2]", "\"x\"", "42", "{\"name\":\"a\"} trailing"}) {
    Error e = parse_error(body);
    EXPECT_EQ(e.code, Errc::kInvalidArgument) << body;
    EXPECT_EQ(e.field, "body") << body;
  }
}

TEST(ParseRequest, UnknownField) {
  Error e = parse_error(R"({"name":"a","colour":"blue"})");
  EXPECT_EQ(e.field, "colour");
  EXPECT_EQ(e.message, "unknown field 'colour'");
}

TEST(ParseRequest, AKeyGivenTwiceIsRefusedNamingIt) {
  Error e = parse_error(R"({"name":"a","max_copies":1,"name":"b"})");
  EXPECT_EQ(e.code, Errc::kInvalidArgument);
  EXPECT_EQ(e.field, "name");
  EXPECT_EQ(e.message, "the request body has the key 'name' more than once");
  // Even with the same value, and in a nested object (where an unknown field is refused anyway).
  EXPECT_EQ(parse_error(R"({"dry_run":true,"dry_run":true})").field, "dry_run");
  EXPECT_EQ(parse_error(R"({"name":{"x":1,"x":2}})").message,
            "the request body has the key 'x' more than once");
  // The same key in two sibling objects is no duplicate.
  EXPECT_EQ(parse_error(R"({"name":[{"x":1},{"x":2}]})").message, "name: expected a string");
}

TEST(ParseRequest, UnknownFieldNameIsSanitized) {
  Error e = parse_error(R"({"a\u0001b":1})");
  EXPECT_EQ(e.field, "a?b");
}

TEST(ParseRequest, EmptyFieldNameIsTheBodysFault) {
  Error e = parse_error(R"({"": "OBS", "name": "a"})");
  EXPECT_EQ(e.code, Errc::kInvalidArgument);
  EXPECT_EQ(e.field, "body");
  EXPECT_EQ(e.message, "unknown field ''");
}

TEST(ParseRequest, WrongTypes) {
  Error e = parse_error(R"({"max_copies":"3"})");
  EXPECT_EQ(e.field, "max_copies");
  EXPECT_EQ(e.message, "max_copies: expected an integer");
  EXPECT_EQ(parse_error(R"({"max_copies":3.5})").field, "max_copies");
  EXPECT_EQ(parse_error(R"({"name":5})").message, "name: expected a string");
  EXPECT_EQ(parse_error(R"({"name":["a"]})").field, "name");
  EXPECT_EQ(parse_error(R"({"dry_run":"true"})").message, "dry_run: expected a boolean");
}

TEST(ParseRequest, IntegerRange) {
  EXPECT_EQ(parse_error(R"({"max_copies":2147483648})").message, "max_copies: out of range");
  EXPECT_EQ(parse_error(R"({"max_copies":-2147483649})").field, "max_copies");
  EXPECT_EQ(parse_error(R"({"max_copies":18446744073709551615})").field, "max_copies");
  auto r = parse_request(R"({"max_copies":-1})", kRules);
  ASSERT_TRUE(r);  // meaning is the engine's business
  EXPECT_EQ(int_field(*r, "max_copies"), -1);
}

TEST(ParseRequest, ControlCharacters) {
  Error e = parse_error(R"({"name":"a\nb"})");
  EXPECT_EQ(e.field, "name");
  EXPECT_EQ(e.message, "name: contains control characters");
  EXPECT_EQ(parse_error(R"({"name":"a\u007fb"})").field, "name");
  EXPECT_EQ(parse_error(R"({"name":"a\u0000b"})").field, "name");
  EXPECT_TRUE(parse_request(R"({"name":"café ✓"})", kRules));
}

TEST(ParseRequest, TooLong) {
  std::string ok(kMaxStringBytes, 'a');
  EXPECT_TRUE(parse_request(R"({"name":")" + ok + "\"}", kRules));
  Error e = parse_error(R"({"name":")" + ok + "a\"}");
  EXPECT_EQ(e.field, "name");
  EXPECT_NE(e.message.find("too long"), std::string::npos);
}

TEST(ParseRequest, InvalidUtf8) {
  Error e = parse_error("{\"name\":\"a\xff\"}");
  EXPECT_EQ(e.code, Errc::kInvalidArgument);
  EXPECT_NE(e.message.find("UTF-8"), std::string::npos);
  // A lone surrogate escape is not a character either.
  EXPECT_EQ(parse_error(R"({"name":"\ud800"})").code, Errc::kInvalidArgument);
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9"));           // é
  EXPECT_TRUE(is_valid_utf8("\xe2\x9c\x93"));       // ✓
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));   // 😀
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));
}

TEST(PathParam, Checks) {
  EXPECT_TRUE(check_path_param("restore-1"));
  EXPECT_EQ(check_path_param("").error().field, "name");
  EXPECT_EQ(check_path_param("a\tb").error().field, "name");
  EXPECT_TRUE(check_path_param(std::string(255, 'x')));
  auto e = check_path_param(std::string(256, 'x'));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "name");
  EXPECT_EQ(check_path_param("\xff", "id").error().field, "id");
}

TEST(Page, DefaultsAndBounds) {
  auto p = parse_page(std::nullopt, std::nullopt);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->limit, 100);
  EXPECT_EQ(p->offset, 0);
  p = parse_page("5", "10");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->limit, 5);
  EXPECT_EQ(p->offset, 10);
  EXPECT_EQ(parse_page("0", std::nullopt).error().field, "limit");
  EXPECT_EQ(parse_page("1001", std::nullopt).error().field, "limit");
  EXPECT_EQ(parse_page("ten", std::nullopt).error().field, "limit");
  EXPECT_EQ(parse_page("", std::nullopt).error().field, "limit");
  EXPECT_EQ(parse_page(std::nullopt, "-1").error().field, "offset");
  EXPECT_EQ(parse_page(std::nullopt, "1x").error().field, "offset");
}

TEST(Sanitize, ControlsAndLength) {
  EXPECT_EQ(sanitize_for_log("ab\ncd"), "ab?cd");
  EXPECT_EQ(sanitize_for_log("abcdef", 3), "abc...");
  EXPECT_EQ(sanitize_for_log("abc", 3), "abc");
  EXPECT_EQ(sanitize_for_log("a\xff"), "a?");
  EXPECT_EQ(sanitize_for_log("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(ErrorJson, Shape) {
  json j =
      error_json({Errc::kPermissionDenied, "the operator role is required to start a restoration"});
  EXPECT_EQ(j["error"]["code"], "permission_denied");
  EXPECT_EQ(j["error"]["message"], "the operator role is required to start a restoration");
  EXPECT_FALSE(j["error"].contains("field"));
  j = error_json({Errc::kInvalidArgument, "name: too long", "name"});
  EXPECT_EQ(j["error"]["field"], "name");
}

TEST(Dump, ReplacesInvalidUtf8InsteadOfThrowing) {
  json j = {{"error", std::string("bad \xff byte")}};
  std::string s;
  ASSERT_NO_THROW(s = dump(j));
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_NE(s.find("bad "), std::string::npos);
}

TEST(Conversions, TimesAreIsoOrNull) {
  EXPECT_TRUE(time_json(0).is_null());
  EXPECT_EQ(time_json(1764045432), "2025-11-25T04:37:12Z");
}

TEST(Conversions, BackupTask) {
  store::BackupTask t;
  t.name = "nightly";
  t.cluster = "prod";
  t.data_source = DataSource::kFlink;
  t.params.path_type = PathType::kRemoteHDFS;
  t.params.path = "/backup";
  t.params.nameservice = "ns1";
  t.params.namenode_ip = "10.0.0.1";
  t.max_copies = 5;
  t.created_at = 1764045432;
  json j = backup_task_json(t);
  EXPECT_EQ(j["mode"], "manual");
  EXPECT_TRUE(j["next_run"].is_null());
  EXPECT_TRUE(j["start_time"].is_null());
  EXPECT_EQ(j["path_type"], "RemoteHDFS");
  EXPECT_EQ(j["data_source"], "Flink");
  EXPECT_EQ(j["max_copies"], 5);
  EXPECT_EQ(j["created_at"], "2025-11-25T04:37:12Z");
  t.period_seconds = 86400;
  t.start_time = 1764045432;
  t.next_run = 1764045432 + 86400;
  j = backup_task_json(t);
  EXPECT_EQ(j["mode"], "periodic");
  EXPECT_EQ(j["period_seconds"], 86400);
  EXPECT_EQ(j["next_run"], "2025-11-26T04:37:12Z");
  for (const char* k : {"name", "cluster", "data_source", "path_type", "path", "nameservice",
                        "namenode_ip", "max_copies", "mode", "period_seconds", "start_time",
                        "next_run", "suspended", "created_at"})
    EXPECT_TRUE(j.contains(k)) << k;
}

TEST(Conversions, BackupRecord) {
  store::BackupRecord r;
  r.id = 7;
  r.task_name = "nightly";
  r.status = BackupStatus::kRemoved;
  r.started_at = 1764045432;
  r.backup_object = "Flink";
  r.backup_path = "/b/nightly_20251125043712/1.18.1_Flink_20251125043712.tar.gz";
  r.progress = 140;
  json j = backup_record_json(r);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["task"], "nightly");
  EXPECT_EQ(j["status"], "Removed");
  EXPECT_TRUE(j["ended_at"].is_null());
  EXPECT_EQ(j["backup_object"], "Flink");
  EXPECT_EQ(j["backup_path"], r.backup_path);
  EXPECT_EQ(j["progress"], 100);
  // No detail yet (or a record from before it was kept): the object with step "" and zeros.
  EXPECT_EQ(j["progress_detail"],
            json::parse(R"({"step":"","bytes_done":0,"bytes_total":0,"bytes_per_second":0})"));
  r.progress_detail = {
      .step = "write", .bytes_done = 1048576, .bytes_total = 3145728, .bytes_per_second = 524288};
  EXPECT_EQ(backup_record_json(r)["progress_detail"],
            json::parse(R"({"step":"write","bytes_done":1048576,"bytes_total":3145728,
                            "bytes_per_second":524288})"));
}

TEST(Conversions, RestoreTaskErrorOnlyWhenFailed) {
  store::RestoreTask t;
  t.name = "r1";
  t.params.path = "/x.tar.gz";
  t.state = RestoreState::kRunning;
  t.progress = 40;
  t.error = "stale";
  json j = restore_task_json(t);
  EXPECT_EQ(j["state"], "Running");
  EXPECT_EQ(j["progress"], 40);
  EXPECT_EQ(j["source_path"], "/x.tar.gz");
  EXPECT_FALSE(j.contains("error"));
  t.state = RestoreState::kFailed;
  j = restore_task_json(t);
  EXPECT_EQ(j["error"], "stale");
}

TEST(Conversions, RestoreView) {
  task::RestoreView v;
  v.task.name = "r1";
  store::RestoreAttempt a;
  a.number = 1;
  a.state = RestoreState::kFailed;
  a.steps.push_back({.name = "check", .status = "failed", .started_at = 1, .detail = "version"});
  a.report = nullptr;
  a.phase = store::AttemptPhase::kRolledBack;
  a.progress_detail = {.step = "stage", .bytes_done = 10, .bytes_total = 20};
  v.attempts.push_back(a);
  v.log.push_back({.at = 1764045432, .level = "error", .text = "version differs"});
  json j = restore_view_json(v);
  ASSERT_EQ(j["attempt_history"].size(), 1u);
  EXPECT_EQ(j["attempt_history"][0]["steps"][0]["name"], "check");
  EXPECT_TRUE(j["attempt_history"][0]["steps"][0]["ended_at"].is_null());
  EXPECT_TRUE(j["attempt_history"][0]["report"].is_object());
  EXPECT_EQ(j["log"][0]["level"], "error");
  EXPECT_EQ(j["log"][0]["at"], "2025-11-25T04:37:12Z");
  EXPECT_EQ(j["attempt_history"][0]["phase"], "rolled-back");
  const json detail =
      json::parse(R"({"step":"stage","bytes_done":10,"bytes_total":20,"bytes_per_second":0})");
  EXPECT_EQ(j["attempt_history"][0]["progress_detail"], detail);
  EXPECT_EQ(j["progress_detail"], detail);  // the task's is its latest attempt's
}

TEST(Conversions, UserHasNoHash) {
  store::User u{.id = 1,
                .name = "alice",
                .role = store::Role::kOperator,
                .password_hash = "$argon2id$secret",
                .created_at = 0};
  json j = user_json(u);
  EXPECT_EQ(j["role"], "operator");
  EXPECT_EQ(dump(j).find("argon2"), std::string::npos);
}

TEST(Conversions, ClusterAndVerify) {
  task::ClusterView c;
  c.name = "prod";
  c.version_error = "version command exited 1";
  c.metadata.push_back({"ha", "zookeeper", "zk1:2181/flink/prod"});
  c.service = {service::ServiceState::kStopped, "status command exited 3"};
  json j = cluster_json(c);
  EXPECT_EQ(j["version_error"], "version command exited 1");
  EXPECT_EQ(j["metadata"][0]["kind"], "zookeeper");
  EXPECT_EQ(j["service"]["state"], "stopped");
  EXPECT_TRUE(j["restore_running"].is_null());
  EXPECT_EQ(cluster_service_json("prod", c.service)["cluster"], "prod");

  task::VerifyResult v;
  v.path = "/x.tar.gz";
  v.file_size = 1234;
  v.checksum = "sha256:ab";
  v.header.system_version = "1.18.1";
  v.header.data_source = "Flink";
  v.header.cluster = "prod";
  v.header.execution_time = "20251125043712";
  v.sources.push_back({"conf", "files", 3, 100});
  j = verify_json(v);
  EXPECT_EQ(j["system_version"], "1.18.1");
  EXPECT_EQ(j["sources"][0]["entries"], 3);
  EXPECT_EQ(j["file_size"], 1234);
}

}  // namespace
}  // namespace flinkbr::server
