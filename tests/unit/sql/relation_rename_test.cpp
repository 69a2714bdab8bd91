// Renaming a statement's one sharded-table reference to a coordinator
// partition: the shapes renamed (with the result checked byte for byte) and
// every shape that could name the table elsewhere or be misread, refused.
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "sql/relation_rename.hpp"

namespace pgswarm::sql {
namespace {

const ShardedRelation kAccounts{
    .schema = "public", .table = "pgbench_accounts", .keyColumn = "aid"};
const ShardedRelation kMixed{.schema = "My Schema", .table = "Mixed \"Q\"", .keyColumn = "k"};
constexpr const char* kLocal = "public.pgbench_accounts_p0";

std::optional<std::string> rename(const std::string& text,
                                  const ShardedRelation& relation = kAccounts) {
  return renameRelation(text, relation, kLocal);
}

struct Renamed {
  const char* text;
  const char* expected;
};

TEST(RelationRename, RenamesTheOneReferenceAsWritten) {
  const Renamed cases[] = {
      {"SELECT abalance FROM pgbench_accounts WHERE aid = $1",
       "SELECT abalance FROM public.pgbench_accounts_p0 WHERE aid = $1"},
      {"select abalance from PGBENCH_Accounts where aid = 7",
       "select abalance from public.pgbench_accounts_p0 where aid = 7"},
      {"SELECT * FROM public.pgbench_accounts WHERE aid = 1",
       "SELECT * FROM public.pgbench_accounts_p0 WHERE aid = 1"},
      {"SELECT * FROM \"public\" . \"pgbench_accounts\" a WHERE a.aid = 1",
       "SELECT * FROM public.pgbench_accounts_p0 a WHERE a.aid = 1"},
      {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
       "UPDATE public.pgbench_accounts_p0 SET abalance = abalance + $1 WHERE aid = $2"},
      {"DELETE FROM pgbench_accounts WHERE aid = 3 RETURNING *",
       "DELETE FROM public.pgbench_accounts_p0 WHERE aid = 3 RETURNING *"},
      {"INSERT INTO pgbench_accounts (aid, bid) VALUES (5, 1)",
       "INSERT INTO public.pgbench_accounts_p0 (aid, bid) VALUES (5, 1)"},
      // Names inside strings and comments are not references.
      {"/* pgbench_accounts */ SELECT 'pgbench_accounts' FROM pgbench_accounts -- "
       "pgbench_accounts\n"
       "WHERE aid = 1",
       "/* pgbench_accounts */ SELECT 'pgbench_accounts' FROM public.pgbench_accounts_p0 -- "
       "pgbench_accounts\nWHERE aid = 1"},
      {"SELECT $$pgbench_accounts$$ FROM pgbench_accounts WHERE aid = 1",
       "SELECT $$pgbench_accounts$$ FROM public.pgbench_accounts_p0 WHERE aid = 1"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(rename(c.text), std::optional<std::string>(c.expected)) << c.text;
  }
}

TEST(RelationRename, QuotedNamesCompareExactly) {
  EXPECT_EQ(rename("SELECT * FROM \"My Schema\".\"Mixed \"\"Q\"\"\" WHERE k = 1", kMixed),
            std::optional<std::string>("SELECT * FROM public.pgbench_accounts_p0 WHERE k = 1"));
  EXPECT_EQ(rename("SELECT * FROM \"Mixed \"\"Q\"\"\" WHERE k = 1", kMixed),
            std::optional<std::string>("SELECT * FROM public.pgbench_accounts_p0 WHERE k = 1"));
  // "PGBENCH_ACCOUNTS" quoted is another table: no reference found.
  EXPECT_EQ(rename("SELECT * FROM \"PGBENCH_ACCOUNTS\" WHERE aid = 1"), std::nullopt);
}

TEST(RelationRename, RefusesTextsThatMayNameTheTableElsewhere) {
  const char* refused[] = {
      // Qualified columns and whole-row references name it again.
      "SELECT pgbench_accounts.abalance FROM pgbench_accounts WHERE aid = 1",
      "SELECT pgbench_accounts FROM pgbench_accounts WHERE aid = 1",
      "SELECT \"pgbench_accounts\".* FROM pgbench_accounts WHERE aid = 1",
      "UPDATE pgbench_accounts SET abalance = 1 WHERE pgbench_accounts.aid = 1",
      // A name that is only a qualifier.
      "SELECT pgbench_accounts.x FROM t WHERE aid = 1",
      // Another schema written before the name.
      "SELECT * FROM other.pgbench_accounts WHERE aid = 1",
      "SELECT * FROM db.public.pgbench_accounts WHERE aid = 1",
      // No reference at all.
      "SELECT 1",
      // U&"..." may spell the name; a word longer than 63 bytes is truncated by the server.
      "SELECT * FROM pgbench_accounts WHERE U&\"a\" = 1",
      "SELECT * FROM pgbench_accounts WHERE "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1",
      // A backslash's meaning depends on standard_conforming_strings.
      "SELECT * FROM pgbench_accounts WHERE filler = 'a\\' AND aid = 1",
      // The partition's constraints have names of their own.
      "INSERT INTO pgbench_accounts (aid) VALUES (1) ON CONFLICT ON CONSTRAINT "
      "pgbench_accounts_pkey DO NOTHING",
      // The text ends inside a string.
      "SELECT * FROM pgbench_accounts WHERE filler = 'a",
  };
  for (const char* text : refused) EXPECT_EQ(rename(text), std::nullopt) << text;
}

}  // namespace
}  // namespace pgswarm::sql
