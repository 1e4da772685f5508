#include <gtest/gtest.h>

#include "cli/cli.h"

namespace flinkbr::cli {
namespace {

using nlohmann::json;

TEST(ProgressBar, Layout) {
  EXPECT_EQ(render_progress_bar(62, "stage", "restore-x", 14),
            "[########------]  62%  stage  restore-x");
  EXPECT_EQ(render_progress_bar(0, "", "b", 4), "[----]   0%  b");
  EXPECT_EQ(render_progress_bar(100, "apply", "", 4), "[####] 100%  apply");
}

TEST(ProgressBar, ClampsPercent) {
  EXPECT_EQ(render_progress_bar(-5, "", "", 2), "[--]   0%");
  EXPECT_EQ(render_progress_bar(250, "", "", 2), "[##] 100%");
}

TEST(Table, AlignsColumns) {
  EXPECT_EQ(render_table({"NAME", "STATE"}, {{"r1", "Running"}, {"long-name", "Failed"}}),
            "NAME       STATE\n"
            "r1         Running\n"
            "long-name  Failed\n");
}

TEST(Table, CountsCharactersNotBytes) {
  EXPECT_EQ(render_table({"A", "B"}, {{"é", "x"}, {"ab", "y"}}),
            "A   B\n"
            "é   x\n"
            "ab  y\n");
}

TEST(Table, EmptyRowsPrintHeader) {
  EXPECT_EQ(render_table({"A", "B"}, {}), "A  B\n");
}

TEST(HumanBytes, Units) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(50ull << 20), "50 MiB");
}

TEST(ErrorLine, NamesTheField) {
  EXPECT_EQ(error_line({Errc::kInvalidArgument, "unknown data source 'x'", "data_source"}),
            "flinkbr: data_source: unknown data source 'x'");
  EXPECT_EQ(error_line({Errc::kInvalidArgument, "name: too long", "name"}),
            "flinkbr: name: too long");
  EXPECT_EQ(error_line({Errc::kNotFound, "no task\nnamed x"}), "flinkbr: no task named x");
}

TEST(ErrorLine, NamesTheFlagTheUserTyped) {
  EXPECT_EQ(error_line(with_flag_names({Errc::kInvalidArgument,
                                        "namenode_ip: '10.0.0' is not an IPv4 or IPv6 address",
                                        "namenode_ip"})),
            "flinkbr: --namenode-ip: '10.0.0' is not an IPv4 or IPv6 address");
  // Only whole words: a longer field that contains it stays.
  EXPECT_EQ(with_flag_names({Errc::kInvalidArgument, "ip_mode contradicts my_ip_mode2", "ip_mode"})
                .message,
            "--ip-mode contradicts my_ip_mode2");
  // A field that is an ordinary word is replaced only as the leading label.
  EXPECT_EQ(error_line(with_flag_names(
                {Errc::kInvalidArgument, "queue is required for RemoteHDFS", "queue"})),
            "flinkbr: --queue: queue is required for RemoteHDFS");
  EXPECT_EQ(error_line(with_flag_names({Errc::kInvalidArgument, "name: too long", "name"})),
            "flinkbr: NAME: too long");
  EXPECT_EQ(error_line(with_flag_names({Errc::kNotFound, "no task 'x'"})), "flinkbr: no task 'x'");
  EXPECT_EQ(flag_for_field("from_record"), "--from-record");
}

TEST(Preview, CountsAndFirstEntries) {
  json p = {{"task", "r1"},
            {"cluster", "prod"},
            {"source_path", "/b/x.tar.gz"},
            {"system_version", "1.18.1"},
            {"execution_time", "20260101000000"},
            {"checks", {{{"name", "version"}, {"status", "done"}, {"detail", "1.18.1"}}}},
            {"sources",
             {{{"name", "ha"},
               {"kind", "zookeeper"},
               {"added", {"/a", "/b", "/c"}},
               {"changed", {"/d"}},
               {"removed", json::array()},
               {"counts", {{"added", 3}, {"changed", 1}, {"removed", 0}}}}}}};
  std::string text = render_preview(p, 2);
  EXPECT_NE(text.find("nothing was changed"), std::string::npos) << text;
  EXPECT_NE(text.find("Source ha (zookeeper): 3 to add, 1 to change, 0 to remove"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  + /a\n  + /b\n    ... and 1 more added"), std::string::npos) << text;
  EXPECT_NE(text.find("  ~ /d"), std::string::npos) << text;
  EXPECT_NE(text.find("done    version: 1.18.1"), std::string::npos) << text;
}

TEST(Preview, ServiceStateAndWhatAStartWouldRefuse) {
  json p = {{"task", "r1"},
            {"service", {{"state", "running"}, {"detail", "status command exited 0"}}},
            {"flink", {{"refusal", "dangling"}}},
            {"would_refuse",
             {"the Flink service of cluster 'prod' is running (status command exited 0); stop it "
              "first: flinkbr service stop prod",
              "dangling"}},
            {"sources", json::array()}};
  std::string text = render_preview(p);
  EXPECT_NE(text.find("Flink service: running (status command exited 0)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("A start now would be refused: the Flink service of cluster 'prod' is "
                      "running (status command exited 0); stop it first: flinkbr service stop "
                      "prod\n"),
            std::string::npos)
      << text;
  // The Flink refusal is said once.
  EXPECT_EQ(text.find("refused: dangling"), text.rfind("refused: dangling")) << text;
  p["would_refuse"] = json::array();
  EXPECT_NE(render_preview(p).find("A start now would pass these checks."), std::string::npos);
}

TEST(Preview, NothingToDo) {
  json p = {{"task", "r1"},
            {"sources",
             {{{"name", "conf"},
               {"added", json::array()},
               {"changed", json::array()},
               {"removed", json::array()}}}}};
  EXPECT_NE(render_preview(p).find("already holds exactly"), std::string::npos);
}

TEST(UrlSegment, Encodes) {
  EXPECT_EQ(url_segment("restore-1.a_b~"), "restore-1.a_b~");
  EXPECT_EQ(url_segment("a b/c?d"), "a%20b%2Fc%3Fd");
  EXPECT_EQ(url_segment("é"), "%C3%A9");
}

TEST(ErrorFromResponse, ApiErrorAndFallback) {
  Error e = error_from_response(
      400,
      R"({"error":{"code":"invalid_argument","message":"max_copies: expected an integer","field":"max_copies"}})");
  EXPECT_EQ(e.code, Errc::kInvalidArgument);
  EXPECT_EQ(e.field, "max_copies");
  EXPECT_EQ(e.message, "max_copies: expected an integer");
  e = error_from_response(422, R"({"error":{"code":"corruption","message":"entry x: checksum"}})");
  EXPECT_EQ(errc_exit_code(e.code), 6);
  e = error_from_response(502, "<html>bad gateway</html>");
  EXPECT_EQ(e.code, Errc::kUnavailable);
  EXPECT_NE(e.message.find("502"), std::string::npos);
  e = error_from_response(404, "");
  EXPECT_EQ(e.code, Errc::kNotFound);
}

TEST(NormalizeServer, TrailingSlash) {
  EXPECT_EQ(normalize_server("http://h:1/"), "http://h:1");
  EXPECT_EQ(normalize_server("http://h:1"), "http://h:1");
}

}  // namespace
}  // namespace flinkbr::cli

namespace flinkbr::cli {
namespace {

TEST(Yaml, BlockStyleThatReadsBackAsTheSameJson) {
  nlohmann::json j = {{"name", "r1"},
                      {"progress", 40},
                      {"error", nullptr},
                      {"empty", nlohmann::json::array()},
                      {"a key", {{"nested", true}}},
                      {"steps", {{{"name", "check"}, {"status", "done"}}, "plain", {1, 2}}}};
  EXPECT_EQ(render_yaml(j),
            "\"a key\":\n"
            "  nested: true\n"
            "empty: []\n"
            "error: null\n"
            "name: \"r1\"\n"
            "progress: 40\n"
            "steps:\n"
            "  - name: \"check\"\n"
            "    status: \"done\"\n"
            "  - \"plain\"\n"
            "  - - 1\n"
            "    - 2\n");
  EXPECT_EQ(render_yaml(nlohmann::json::array()), "[]\n");
  EXPECT_EQ(render_yaml("line\nbreak: x"), "\"line\\nbreak: x\"\n");
}

TEST(ClosestWord, EditDistanceOrPrefix) {
  const std::vector<std::string> words = {"create", "run", "list", "history", "verify"};
  EXPECT_EQ(closest_word("lst", words), "list");
  EXPECT_EQ(closest_word("hist", words), "history");
  EXPECT_EQ(closest_word("crate", words), "create");
  EXPECT_EQ(closest_word("frobnicate", words), "");
}

TEST(RenderProgressDetail, StepBytesAndThroughput) {
  EXPECT_EQ(render_progress_detail(json{{"step", "write"},
                                        {"bytes_done", 1572864},
                                        {"bytes_total", 4194304},
                                        {"bytes_per_second", 2097152}}),
            "write 1.5 MiB/4.0 MiB 2.0 MiB/s");
  // An unknown total, no throughput yet, no bytes yet, no detail.
  EXPECT_EQ(
      render_progress_detail(json{{"step", "write"}, {"bytes_done", 2048}, {"bytes_total", 0}}),
      "write 2.0 KiB");
  EXPECT_EQ(render_progress_detail(json{{"step", "check"}, {"bytes_done", 0}}), "check");
  EXPECT_EQ(render_progress_detail(json()), "");
  EXPECT_EQ(render_progress_detail(json{{"step", 3}, {"bytes_done", "x"}}), "");
}

}  // namespace
}  // namespace flinkbr::cli
