// deploy/docker/Dockerfile cannot be built here (no Docker engine), so this
// test checks what can be checked without one:
//  - its builder runs the README's build: the Makefile's `deps` and
//    `release` recipes (install script, CMake preset), command for command;
//  - a lint of the hadolint rules that matter for this image (hadolint is not
//    packaged by Debian), each named by its hadolint code;
//  - runtime-packages.sh, which picks the runtime stage's libraries, run on
//    the pgswarm binary built here.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

const std::string kSource = PGSWARM_SOURCE_DIR;

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Instruction {
  std::string keyword;  // upper case
  std::string args;     // continuation lines joined, comments dropped
  int stage = 0;        // index of the FROM it belongs to
};

struct Dockerfile {
  std::vector<Instruction> instructions;
  std::vector<std::string> stageNames;  // "" for an unnamed stage
};

std::string trimmed(const std::string& text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

Dockerfile parseDockerfile(const std::string& text) {
  Dockerfile file;
  std::stringstream lines(text);
  std::string logical;
  auto flush = [&] {
    auto line = trimmed(logical);
    logical.clear();
    if (line.empty()) return;
    auto space = line.find_first_of(" \t");
    Instruction instruction{line.substr(0, space),
                            space == std::string::npos ? "" : trimmed(line.substr(space)), 0};
    for (auto& c : instruction.keyword) c = static_cast<char>(std::toupper(c));
    if (instruction.keyword == "FROM") {
      std::smatch match;
      std::regex named(R"(\s+AS\s+(\S+)$)", std::regex::icase);
      file.stageNames.push_back(std::regex_search(instruction.args, match, named) ? match[1].str()
                                                                                  : "");
    }
    instruction.stage = static_cast<int>(file.stageNames.size()) - 1;
    file.instructions.push_back(instruction);
  };
  for (std::string line; std::getline(lines, line);) {
    if (trimmed(line).rfind('#', 0) == 0) continue;  // comments, also inside continuations
    bool continued = !line.empty() && line.back() == '\\';
    logical += (continued ? line.substr(0, line.size() - 1) : line) + " ";
    if (!continued) flush();
  }
  flush();
  return file;
}

// The commands of a Makefile target's recipe, without output redirections.
std::vector<std::string> recipe(const std::string& makefile, const std::string& target) {
  std::vector<std::string> commands;
  std::stringstream lines(makefile);
  bool inside = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(target + ":", 0) == 0) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.empty() || line.front() != '\t') break;
    commands.push_back(trimmed(std::regex_replace(line, std::regex(R"(\s*>\s*/dev/null)"), "")));
  }
  return commands;
}

class SwarmDockerfile : public ::testing::Test {
 protected:
  std::string text_ = readText(kSource + "/deploy/docker/Dockerfile");
  Dockerfile file_ = parseDockerfile(text_);

  [[nodiscard]] std::vector<Instruction> all(const std::string& keyword) const {
    std::vector<Instruction> out;
    for (const auto& instruction : file_.instructions) {
      if (instruction.keyword == keyword) out.push_back(instruction);
    }
    return out;
  }
};

TEST_F(SwarmDockerfile, TheBuilderRunsTheReadmesBuildInOrder) {
  ASSERT_FALSE(text_.empty()) << "deploy/docker/Dockerfile is missing";
  auto makefile = readText(kSource + "/Makefile");
  auto readme = readText(kSource + "/README.md");
  // The README's build is `make` (release) after `make deps`.
  ASSERT_TRUE(contains(readme, "make            # release build")) << "README's build changed";
  std::vector<std::string> expected = recipe(makefile, "deps");
  auto release = recipe(makefile, "release");
  expected.insert(expected.end(), release.begin(), release.end());
  ASSERT_EQ(expected.size(), 3U) << "the Makefile's deps/release recipes changed";

  std::vector<std::string> builderRuns;
  for (const auto& run : all("RUN")) {
    if (file_.stageNames.at(run.stage) == "builder") builderRuns.push_back(trimmed(run.args));
  }
  std::size_t next = 0;
  for (const auto& run : builderRuns) {
    if (next < expected.size() && run == expected[next]) ++next;
  }
  EXPECT_EQ(next, expected.size())
      << "the builder stage does not run `" << expected.at(next) << "` (in the Makefile's order)";
}

TEST_F(SwarmDockerfile, BaseImagesAreDebian12WithExplicitTags) {
  auto froms = all("FROM");
  ASSERT_GE(froms.size(), 2U);
  for (const auto& from : froms) {
    auto image = from.args.substr(0, from.args.find(' '));
    bool isStage = std::find(file_.stageNames.begin(), file_.stageNames.end(), image) !=
                   file_.stageNames.end();
    if (isStage) continue;
    // DL3006 (tag the image explicitly), DL3007 (never latest); Debian 12 like the README.
    EXPECT_TRUE(image.rfind("debian:12", 0) == 0) << image;
    EXPECT_FALSE(contains(image, ":latest")) << image;
  }
}

TEST_F(SwarmDockerfile, HadolintRulesThatMatterHold) {
  bool pipefail = false;
  for (const auto& instruction : file_.instructions) {
    const auto& args = instruction.args;
    if (instruction.keyword == "SHELL") pipefail = contains(args, "pipefail");
    if (instruction.keyword == "FROM") pipefail = false;
    EXPECT_NE(instruction.keyword, "ADD") << "DL3020: use COPY";
    if (instruction.keyword == "WORKDIR") {
      EXPECT_EQ(args.front(), '/') << "DL3000";
    }
    if (instruction.keyword != "RUN") continue;
    EXPECT_FALSE(std::regex_search(args, std::regex(R"(apt-get\s+(dist-)?upgrade)"))) << "DL3005";
    EXPECT_FALSE(std::regex_search(args, std::regex(R"((^|[;&|]\s*)apt\s)"))) << "DL3027: " << args;
    EXPECT_FALSE(std::regex_search(args, std::regex(R"((^|[;&|]\s*)sudo\s)"))) << "DL3004";
    EXPECT_FALSE(std::regex_search(args, std::regex(R"((^|\s)cd\s)"))) << "DL3003: use WORKDIR";
    if (contains(args, "apt-get install")) {
      EXPECT_TRUE(contains(args, "--no-install-recommends")) << "DL3015: " << args;
      EXPECT_TRUE(std::regex_search(args, std::regex(R"(apt-get install[^&]*\s-y\b)")))
          << "DL3014: " << args;
      EXPECT_TRUE(contains(args, "rm -rf /var/lib/apt/lists/*")) << "DL3009: " << args;
    }
    // DL4006: a pipe's failure must fail the RUN.
    if (std::regex_search(args, std::regex(R"([^|]\|[^|])"))) {
      EXPECT_TRUE(pipefail) << "DL4006: " << args;
    }
  }
}

TEST_F(SwarmDockerfile, TheImageRunsAsPostgresWithJsonEntryPointAndHealthCheck) {
  auto users = all("USER");
  ASSERT_FALSE(users.empty()) << "DL3002: the image must not run as root";
  for (const auto& user : users) EXPECT_NE(user.args, "root") << "DL3002";
  EXPECT_EQ(users.back().args, "postgres");
  // DL3025: JSON form, so signals reach pgswarm (PID 1) directly.
  auto entry = all("ENTRYPOINT");
  ASSERT_EQ(entry.size(), 1U);
  EXPECT_EQ(entry.front().args, R"(["pgswarm"])");
  auto cmds = all("CMD");
  ASSERT_FALSE(cmds.empty());
  for (const auto& cmd : cmds) EXPECT_EQ(cmd.args.front(), '[') << "DL3025: " << cmd.args;
  // The last stage is the default target: `pgswarm node`.
  EXPECT_EQ(file_.stageNames.back(), "node");
  EXPECT_EQ(cmds.back().args, R"(["node"])");
  auto health = all("HEALTHCHECK");
  ASSERT_EQ(health.size(), 1U);
  EXPECT_TRUE(contains(health.front().args, "127.0.0.1:8008/health"));
  EXPECT_TRUE(contains(health.front().args, "127.0.0.1:8080/health"));
  EXPECT_TRUE(contains(text_, "--platform linux/amd64,linux/arm64,linux/arm/v7"));
  EXPECT_TRUE(contains(text_, "postgresql-15"));
  EXPECT_TRUE(contains(text_, "postgres_fdw.control"));
}

TEST_F(SwarmDockerfile, TheLintCatchesWhatItChecks) {
  // The parser under the lint: continuation lines, comments, stage names.
  auto parsed = parseDockerfile(
      "FROM debian:12 AS b\n# c\nRUN apt-get update \\\n  # inner\n  && apt-get install x\n"
      "FROM b\nCMD node\n");
  ASSERT_EQ(parsed.instructions.size(), 4U);
  EXPECT_EQ(parsed.instructions[1].args, "apt-get update    && apt-get install x");
  EXPECT_EQ(parsed.stageNames, (std::vector<std::string>{"b", ""}));
  EXPECT_EQ(parsed.instructions[3].stage, 1);
  EXPECT_EQ(recipe("a:\n\tone >/dev/null\n\ttwo\n\nb:\n\tthree\n", "a"),
            (std::vector<std::string>{"one", "two"}));
}

TEST(SwarmRuntimePackages, ListsThePackagesOfEveryLinkedLibrary) {
  auto script = kSource + "/deploy/docker/runtime-packages.sh";
  auto listed = runProgram({script, pgswarmBinary()});
  ASSERT_EQ(listed.exitCode, 0) << listed.output;
  std::vector<std::string> packages;
  std::stringstream lines(listed.output);
  for (std::string line; std::getline(lines, line);) packages.push_back(line);
  for (const char* needed : {"libpq5", "libssl3", "libyaml-cpp0.7", "libstdc++6", "libfmt9"}) {
    EXPECT_NE(std::find(packages.begin(), packages.end(), needed), packages.end())
        << needed << " missing from:\n"
        << listed.output;
  }
  // Each named package really is one, installed here (the image installs them by name).
  std::vector<std::string> query{"/usr/bin/dpkg-query", "-W", "-f=${Package} ${Status}\n"};
  query.insert(query.end(), packages.begin(), packages.end());
  auto status = runProgram(query);
  EXPECT_EQ(status.exitCode, 0) << status.output;
  for (const auto& package : packages) {
    EXPECT_TRUE(contains(status.output, package + " install ok installed")) << status.output;
  }
  auto refused = runProgram({script, "/nonexistent/pgswarm"});
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_TRUE(contains(refused.output, "is not an executable")) << refused.output;
}

}  // namespace
}  // namespace pgswarm::test
