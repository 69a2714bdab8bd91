// Catalog reading and DDL for sharded tables: see table_definition.hpp.
#include "shard/table_definition.hpp"

#include <algorithm>

namespace pgswarm::shard {
namespace {

using cluster::quoteIdentifier;

constexpr const char* kTableQuery = R"(
SELECT c.oid::text AS oid, c.relkind::text AS kind, pg_get_userbyid(c.relowner) AS owner,
       c.relrowsecurity::text AS rls, c.relhassubclass::text AS children,
       EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)::text AS inherits
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2)";

constexpr const char* kColumnsQuery = R"(
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull::text AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       CASE WHEN a.attcollation <> t.typcollation
            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
       a.attidentity::text AS identity, a.attgenerated::text AS generated
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum)";

// Constraints with whether they cover the key column.
constexpr const char* kConstraintsQuery = R"(
SELECT con.conname AS name, con.contype::text AS type, pg_get_constraintdef(con.oid) AS def,
       (SELECT a.attnum FROM pg_attribute a
        WHERE a.attrelid = con.conrelid AND a.attname = $2) = ANY (con.conkey) AS has_key
FROM pg_constraint con WHERE con.conrelid = $1::oid ORDER BY con.contype DESC, con.conname)";

// Indexes that no constraint owns (those come with their constraint).
constexpr const char* kIndexesQuery = R"(
SELECT pg_get_indexdef(i.indexrelid) AS def, i.indisunique::text AS is_unique,
       (SELECT a.attnum FROM pg_attribute a
        WHERE a.attrelid = i.indrelid AND a.attname = $2) = ANY (i.indkey) AS has_key
FROM pg_index i
WHERE i.indrelid = $1::oid
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid))";

// What depends on the table and would be left pointing at the old one.
constexpr const char* kDependentsQuery = R"(
SELECT 'view ' || v.oid::regclass::text AS what
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1::oid AND v.oid <> $1::oid
UNION
SELECT 'foreign key ' || quote_ident(conname) || ' of ' || conrelid::regclass::text
FROM pg_constraint WHERE contype = 'f' AND confrelid = $1::oid
UNION
SELECT 'trigger ' || quote_ident(tgname) FROM pg_trigger WHERE tgrelid = $1::oid AND NOT tgisinternal
UNION
SELECT 'rule ' || quote_ident(rulename) FROM pg_rewrite
WHERE ev_class = $1::oid AND rulename <> '_RETURN'
UNION
SELECT 'policy ' || quote_ident(polname) FROM pg_policy WHERE polrelid = $1::oid
UNION
SELECT 'publication ' || quote_ident(p.pubname)
FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE pr.prrelid = $1::oid)";

constexpr const char* kOwnedSequencesQuery = R"(
SELECT s.oid::regclass::text AS sequence, a.attname AS column_name
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.refobjid = $1::oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a')";

constexpr const char* kGrantsQuery = R"(
SELECT acl.privilege_type AS privilege,
       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(acl.grantee)) END
         AS grantee
FROM pg_class c, aclexplode(c.relacl) acl
WHERE c.oid = $1::oid AND acl.grantee <> c.relowner)";

bool isTrue(const std::optional<std::string>& text) {
  return text && (*text == "t" || *text == "true");
}

Result<std::vector<Column>> readColumns(cluster::PgConnection& conn, const std::string& oid,
                                        std::vector<std::string>& refusals) {
  auto rows = conn.query(kColumnsQuery, {oid});
  if (!rows) return rows.error();
  std::vector<Column> columns;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    Column column{.name = rows->text(i, "name"),
                  .type = rows->text(i, "type"),
                  .collation = rows->get(i, "collation"),
                  .notNull = isTrue(rows->get(i, "not_null")),
                  .defaultExpr = rows->get(i, "default_expr")};
    if (!rows->text(i, "identity").empty()) {
      refusals.push_back("identity column " + column.name + " (use a serial default instead)");
    }
    if (!rows->text(i, "generated").empty()) {
      refusals.push_back("generated column " + column.name);
    }
    columns.push_back(std::move(column));
  }
  return columns;
}

Status readConstraints(cluster::PgConnection& conn, const std::string& oid,
                       const std::string& keyColumn, TableDefinition& definition,
                       std::vector<std::string>& refusals) {
  auto rows = conn.query(kConstraintsQuery, {oid, keyColumn});
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto type = rows->text(i, "type");
    auto def = rows->text(i, "def");
    auto name = rows->text(i, "name");
    if (type == "f") {
      refusals.push_back("foreign key " + name + " (a shard node has no referenced table)");
    } else if (type == "x") {
      refusals.push_back("exclusion constraint " + name);
    } else if ((type == "p" || type == "u") && !isTrue(rows->get(i, "has_key"))) {
      refusals.push_back(fmt::format(
          "{} does not include the shard key {} (uniqueness is enforced per shard only)", name,
          keyColumn));
    } else if (type == "p" || type == "u" || type == "c") {
      // Unnamed: a local partition sits next to the original table, whose
      // constraint names (and their indexes' names) are taken.
      definition.constraints.push_back(def);
      if (type == "c") definition.checks.push_back(definition.constraints.back());
    }
  }
  return Ok{};
}

Status readIndexes(cluster::PgConnection& conn, const std::string& oid,
                   const std::string& keyColumn, TableDefinition& definition,
                   std::vector<std::string>& refusals) {
  auto rows = conn.query(kIndexesQuery, {oid, keyColumn});
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto def = rows->text(i, "def");
    auto using_ = def.find(" USING ");
    if (using_ == std::string::npos) {
      refusals.push_back("index without USING: " + def);
      continue;
    }
    bool unique = isTrue(rows->get(i, "is_unique"));
    if (unique && !isTrue(rows->get(i, "has_key"))) {
      refusals.push_back(
          fmt::format("unique index '{}' does not include the shard key {}", def, keyColumn));
      continue;
    }
    definition.indexes.push_back((unique ? "UNIQUE" : "") + def.substr(using_));
  }
  return Ok{};
}

Status readDependents(cluster::PgConnection& conn, const std::string& oid,
                      std::vector<std::string>& refusals) {
  auto rows = conn.query(kDependentsQuery, {oid});
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) refusals.push_back(rows->text(i, "what"));
  return Ok{};
}

Status readGrants(cluster::PgConnection& conn, const std::string& oid,
                  TableDefinition& definition) {
  auto grants = conn.query(kGrantsQuery, {oid});
  if (!grants) return grants.error();
  for (std::size_t i = 0; i < grants->size(); ++i) {
    definition.grants.push_back(grants->text(i, "privilege") + " TO " + grants->text(i, "grantee"));
  }
  return Ok{};
}

Status readExtras(cluster::PgConnection& conn, const std::string& oid,
                  TableDefinition& definition) {
  auto sequences = conn.query(kOwnedSequencesQuery, {oid});
  if (!sequences) return sequences.error();
  for (std::size_t i = 0; i < sequences->size(); ++i) {
    definition.ownedSequences.emplace_back(sequences->text(i, "sequence"),
                                           sequences->text(i, "column_name"));
  }
  return readGrants(conn, oid, definition);
}

std::string columnDdl(const Column& column, bool withDefault) {
  std::string ddl = quoteIdentifier(column.name) + " " + column.type;
  if (column.collation) ddl += " COLLATE " + *column.collation;
  if (column.notNull) ddl += " NOT NULL";
  if (withDefault && column.defaultExpr) ddl += " DEFAULT " + *column.defaultExpr;
  return ddl;
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : separator) + part;
  return text;
}

}  // namespace

bool Column::sequenceDefault() const {
  return defaultExpr && defaultExpr->find("nextval(") != std::string::npos;
}

const Column* TableDefinition::column(const std::string& name) const {
  auto it = std::find_if(columns.begin(), columns.end(),
                         [&](const Column& column) { return column.name == name; });
  return it == columns.end() ? nullptr : &*it;
}

std::string TableDefinition::qualified() const {
  return qualifiedName(schema, table);
}

std::string qualifiedName(const std::string& schema, const std::string& name) {
  return quoteIdentifier(schema) + "." + quoteIdentifier(name);
}

std::pair<std::string, std::string> splitTableName(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos) return {"public", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

Result<TableDefinition> readTableDefinition(cluster::PgConnection& conn, const std::string& schema,
                                            const std::string& table, const std::string& keyColumn,
                                            bool partition) {
  auto found = conn.query(kTableQuery, {schema, table});
  if (!found) return found.error();
  if (found->empty()) return makeError("table {}.{} does not exist", schema, table);
  auto kind = found->text(0, "kind");
  if (kind == "p") return makeError("{}.{} is already partitioned", schema, table);
  if (kind != "r") return makeError("{}.{} is not an ordinary table", schema, table);
  if (isTrue(found->get(0, "inherits")) && !partition) {
    return makeError("{}.{} is a partition or inherits from another table", schema, table);
  }
  std::string oid = found->text(0, "oid");
  TableDefinition definition{.schema = schema, .table = table, .owner = found->text(0, "owner")};
  std::vector<std::string> refusals;
  if (isTrue(found->get(0, "rls"))) refusals.push_back("row level security");
  if (isTrue(found->get(0, "children"))) refusals.push_back("table inheritance");
  auto columns = readColumns(conn, oid, refusals);
  if (!columns) return columns.error();
  definition.columns = std::move(*columns);
  if (definition.column(keyColumn) == nullptr) {
    return makeError("{}.{} has no column {}", schema, table, keyColumn);
  }
  for (const auto& step : {readConstraints, readIndexes}) {
    if (auto read = step(conn, oid, keyColumn, definition, refusals); !read) return read.error();
  }
  if (auto read = readDependents(conn, oid, refusals); !read) return read.error();
  if (auto read = readExtras(conn, oid, definition); !read) return read.error();
  if (!refusals.empty()) {
    return makeError("cannot shard {}.{}: {}", schema, table, joined(refusals, "; "));
  }
  return definition;
}

Result<TableDefinition> readPrivileges(cluster::PgConnection& conn, const std::string& schema,
                                       const std::string& table) {
  auto found = conn.query(kTableQuery, {schema, table});
  if (!found) return found.error();
  if (found->empty()) return makeError("table {}.{} does not exist", schema, table);
  TableDefinition definition{.schema = schema, .table = table, .owner = found->text(0, "owner")};
  if (auto read = readGrants(conn, found->text(0, "oid"), definition); !read) return read.error();
  return definition;
}

std::vector<std::string> privilegeDdl(const TableDefinition& definition,
                                      const std::string& qualifiedName) {
  std::vector<std::string> statements{
      fmt::format("ALTER TABLE {} OWNER TO {}", qualifiedName, quoteIdentifier(definition.owner))};
  for (const auto& grant : definition.grants) {
    auto to = grant.find(" TO ");
    statements.push_back(fmt::format("GRANT {} ON {} TO {}", grant.substr(0, to), qualifiedName,
                                     grant.substr(to + 4)));
  }
  return statements;
}

std::vector<std::string> createTableDdl(const TableDefinition& definition,
                                        const std::string& qualifiedName,
                                        bool withSequenceDefaults) {
  std::vector<std::string> elements;
  for (const auto& column : definition.columns) {
    elements.push_back(columnDdl(column, withSequenceDefaults || !column.sequenceDefault()));
  }
  elements.insert(elements.end(), definition.constraints.begin(), definition.constraints.end());
  std::vector<std::string> statements{"CREATE TABLE " + qualifiedName + " (" +
                                      joined(elements, ", ") + ")"};
  for (const auto& index : definition.indexes) {
    bool unique = index.starts_with("UNIQUE");
    statements.push_back(fmt::format("CREATE {}INDEX ON {}{}", unique ? "UNIQUE " : "",
                                     qualifiedName, unique ? index.substr(6) : index));
  }
  return statements;
}

std::string createParentDdl(const TableDefinition& definition, const std::string& qualifiedName,
                            const ShardedTable& table) {
  std::vector<std::string> elements;
  for (const auto& column : definition.columns) elements.push_back(columnDdl(column, true));
  elements.insert(elements.end(), definition.checks.begin(), definition.checks.end());
  return fmt::format("CREATE TABLE {} ({}) PARTITION BY {} ({})", qualifiedName,
                     joined(elements, ", "), table.strategy == Strategy::kHash ? "HASH" : "RANGE",
                     quoteIdentifier(table.keyColumn));
}

}  // namespace pgswarm::shard
