// Finds a statement's one relation and the columns it fixes by equality
// (statement.hpp's SingleRelation). Conservative: any shape not listed in
// SingleRelation's comment gives nullopt or leaves the column out, and the
// router then sends the statement through the coordinator. WHERE clauses are
// walked with an explicit stack: their depth is the client's choice.
#include "sql/single_relation.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

namespace pgswarm::sql::detail {
namespace {

// The protocol counts Bind parameters in 16 bits.
constexpr long long kMaxParameter = 65535;

std::string_view stringNode(const Json& item) {
  const Json* body = nodeOf(&item, "String");
  return body != nullptr ? text(field(*body, "sval")) : std::string_view();
}

// Casts that cannot change which row a key value names once the server
// converts the cast value to the key column's type: integer to integer is
// exact or an error, text and varchar keep the bytes, uuid converts to
// nothing else. Date and time casts are left out on purpose: a date cast
// drops a timestamp's time, and timestamp <-> timestamptz follows the
// session's TimeZone. Typmods (char(2), varchar(3)) can cut the value.
bool keepsValue(const Json& typeName) {
  static constexpr auto kTypes =
      std::to_array<std::string_view>({"int2", "int4", "int8", "text", "varchar", "uuid"});
  if (field(typeName, "typmods") != nullptr || field(typeName, "arrayBounds") != nullptr ||
      flag(field(typeName, "setof")) || flag(field(typeName, "pct_type"))) {
    return false;
  }
  const Json* names = field(typeName, "names");
  if (names == nullptr || !names->is_array() || names->empty() || names->size() > 2) return false;
  if (names->size() == 2 && stringNode(names->front()) != "pg_catalog") return false;
  const std::string_view name = stringNode(names->back());
  return std::find(kTypes.begin(), kTypes.end(), name) != kTypes.end();
}

// A parameter or a constant (string or number, not NULL, boolean or bit
// string), cast or not.
std::optional<FixedValue> fixedValue(const Json* expr) {
  if (const Json* cast = nodeOf(expr, "TypeCast")) {
    const Json* typeName = field(*cast, "typeName");
    if (typeName == nullptr || !keepsValue(*typeName)) return std::nullopt;
    expr = field(*cast, "arg");
  }
  if (const Json* param = nodeOf(expr, "ParamRef")) {
    const long long number = integer(field(*param, "number"));
    if (number < 1 || number > kMaxParameter) return std::nullopt;
    return FixedValue{.parameter = static_cast<int>(number - 1)};
  }
  const Json* constant = nodeOf(expr, "A_Const");
  if (constant == nullptr || flag(field(*constant, "isnull"))) return std::nullopt;
  const long long location = integer(field(*constant, "location"));
  if (location < 0) return std::nullopt;
  FixedValue value{.location = static_cast<std::size_t>(location)};
  if (const Json* s = field(*constant, "sval")) {
    value.parsed = std::string(text(field(*s, "sval")));
  } else if (const Json* f = field(*constant, "fval")) {
    value.parsed = std::string(text(field(*f, "fval")));
  } else if (const Json* i = field(*constant, "ival")) {
    // Only a positive ival is in the JSON; 0 and negative ones are not.
    if (const long long n = integer(field(*i, "ival")); n > 0) value.parsed = std::to_string(n);
  } else {
    return std::nullopt;  // boolval, bsval
  }
  return value;
}

// The column's name when expr is a column of the relation: bare, or
// qualified by the relation's alias (its name when it has none).
std::optional<std::string> columnOf(const Json* expr, const Json& relation) {
  const Json* ref = nodeOf(expr, "ColumnRef");
  const Json* fields = ref != nullptr ? field(*ref, "fields") : nullptr;
  if (fields == nullptr || !fields->is_array() || fields->empty() || fields->size() > 2) {
    return std::nullopt;
  }
  if (nodeOf(&fields->back(), "String") == nullptr) return std::nullopt;  // t.*
  if (fields->size() == 2) {
    const Json* alias = field(relation, "alias");
    const std::string_view expected =
        alias != nullptr ? text(field(*alias, "aliasname")) : text(field(relation, "relname"));
    if (stringNode(fields->front()) != expected) return std::nullopt;
  }
  return std::string(stringNode(fields->back()));
}

bool isEqualsOperator(const Json& expr) {
  const Json* name = field(expr, "name");
  return name != nullptr && name->is_array() && name->size() == 1 &&
         stringNode(name->front()) == "=";
}

// `col = v`, `v = col`, `col IN (v)`.
std::optional<FixedColumn> equality(const Json& expr, const Json& relation) {
  if (!isEqualsOperator(expr)) return std::nullopt;
  const std::string_view kind = text(field(expr, "kind"));
  const Json* left = field(expr, "lexpr");
  const Json* right = field(expr, "rexpr");
  if (kind == "AEXPR_IN") {
    const Json* list = nodeOf(right, "List");
    const Json* items = list != nullptr ? field(*list, "items") : nullptr;
    if (items == nullptr || !items->is_array() || items->size() != 1) return std::nullopt;
    right = &items->front();
  } else if (kind != "AEXPR_OP") {
    return std::nullopt;
  }
  for (int side = 0; side < 2; ++side) {
    std::optional<std::string> column = columnOf(left, relation);
    std::optional<FixedValue> value = fixedValue(right);
    if (column && value) return FixedColumn{std::move(*column), std::move(*value)};
    if (kind == "AEXPR_IN") break;
    std::swap(left, right);
  }
  return std::nullopt;
}

// The equalities among the conjuncts of where's top-level AND.
std::vector<FixedColumn> whereEqualities(const Json* where, const Json& relation) {
  std::vector<FixedColumn> fixed;
  std::vector<const Json*> conjuncts{where};
  while (!conjuncts.empty()) {
    const Json* conjunct = conjuncts.back();
    conjuncts.pop_back();
    if (const Json* boolExpr = nodeOf(conjunct, "BoolExpr")) {
      const Json* args = field(*boolExpr, "args");
      if (text(field(*boolExpr, "boolop")) != "AND_EXPR" || args == nullptr || !args->is_array()) {
        continue;
      }
      for (auto arg = args->rbegin(); arg != args->rend(); ++arg) conjuncts.push_back(&*arg);
    } else if (const Json* expr = nodeOf(conjunct, "A_Expr")) {
      if (std::optional<FixedColumn> column = equality(*expr, relation)) {
        fixed.push_back(std::move(*column));
      }
    }
  }
  return fixed;
}

// ONLY t reads the partitioned parent's own rows (none) on the coordinator
// but the whole table on a shard node; column aliases (t AS a(x, k)) give
// the columns other names; a database-qualified name is left to the server
// to refuse or accept.
std::optional<SingleRelation> over(const Json* rangeVar, bool written) {
  if (rangeVar == nullptr || !rangeVar->is_object() || !flag(field(*rangeVar, "inh")) ||
      field(*rangeVar, "catalogname") != nullptr ||
      path(*rangeVar, {"alias", "colnames"}) != nullptr) {
    return std::nullopt;
  }
  SingleRelation single;
  single.table = TableRef{.schema = std::string(text(field(*rangeVar, "schemaname"))),
                          .name = std::string(text(field(*rangeVar, "relname"))),
                          .written = written};
  return single;
}

bool empty(const Json* list) {
  return list == nullptr || (list->is_array() && list->empty());
}

// Whether an assignment's value is DEFAULT: `c = DEFAULT`, or c's place in
// `(a, c) = (1, DEFAULT)`.
bool isDefault(const Json* value) {
  if (nodeOf(value, "SetToDefault") != nullptr) return true;
  const Json* multi = nodeOf(value, "MultiAssignRef");
  const Json* row = multi != nullptr ? nodeOf(field(*multi, "source"), "RowExpr") : nullptr;
  const Json* args = row != nullptr ? field(*row, "args") : nullptr;
  const long long column = multi != nullptr ? integer(field(*multi, "colno")) : 0;
  if (args == nullptr || !args->is_array() || column < 1 ||
      static_cast<std::size_t>(column) > args->size()) {
    return false;
  }
  return nodeOf(&(*args)[static_cast<std::size_t>(column - 1)], "SetToDefault") != nullptr;
}

// UPDATE SET and ON CONFLICT DO UPDATE SET targets.
void readAssignments(const Json* targets, SingleRelation& single) {
  if (targets == nullptr || !targets->is_array()) return;
  for (const Json& target : *targets) {
    const Json* res = nodeOf(&target, "ResTarget");
    if (res == nullptr) continue;
    std::string name(text(field(*res, "name")));
    if (isDefault(field(*res, "val"))) single.defaulted.push_back(name);
    single.assigned.push_back(std::move(name));
  }
}

std::optional<SingleRelation> fromSelect(const Json& body) {
  const std::string_view op = text(field(body, "op"));
  if ((!op.empty() && op != "SETOP_NONE") || field(body, "withClause") != nullptr ||
      field(body, "intoClause") != nullptr) {
    return std::nullopt;
  }
  const Json* from = field(body, "fromClause");
  if (from == nullptr || !from->is_array() || from->size() != 1) return std::nullopt;
  const Json* rangeVar = nodeOf(&from->front(), "RangeVar");
  std::optional<SingleRelation> single = over(rangeVar, false);
  if (single) single->fixed = whereEqualities(field(body, "whereClause"), *rangeVar);
  return single;
}

std::optional<SingleRelation> fromUpdate(const Json& body) {
  if (field(body, "withClause") != nullptr || !empty(field(body, "fromClause"))) {
    return std::nullopt;
  }
  const Json* rangeVar = field(body, "relation");
  std::optional<SingleRelation> single = over(rangeVar, true);
  if (!single) return std::nullopt;
  single->fixed = whereEqualities(field(body, "whereClause"), *rangeVar);
  readAssignments(field(body, "targetList"), *single);
  return single;
}

std::optional<SingleRelation> fromDelete(const Json& body) {
  if (field(body, "withClause") != nullptr || !empty(field(body, "usingClause"))) {
    return std::nullopt;
  }
  const Json* rangeVar = field(body, "relation");
  std::optional<SingleRelation> single = over(rangeVar, true);
  if (single) single->fixed = whereEqualities(field(body, "whereClause"), *rangeVar);
  return single;
}

// The one row of `VALUES (...)` with nothing else around it (no ORDER BY,
// LIMIT, set operation), or nullptr.
const Json* singleRow(const Json* selectStmt) {
  const Json* select = nodeOf(selectStmt, "SelectStmt");
  if (select == nullptr) return nullptr;
  for (const auto& [key, value] : select->items()) {
    if (key != "valuesLists" && key != "limitOption" && key != "op") return nullptr;
  }
  const std::string_view op = text(field(*select, "op"));
  const Json* rows = field(*select, "valuesLists");
  if ((!op.empty() && op != "SETOP_NONE") || rows == nullptr || !rows->is_array() ||
      rows->size() != 1) {
    return nullptr;
  }
  const Json* row = nodeOf(&rows->front(), "List");
  const Json* items = row != nullptr ? field(*row, "items") : nullptr;
  return items != nullptr && items->is_array() ? items : nullptr;
}

// Without a column list the key's position would need the table's column
// order, which the pool does not know: no fixed columns then.
std::optional<SingleRelation> fromInsert(const Json& body) {
  const Json* row = singleRow(field(body, "selectStmt"));
  if (field(body, "withClause") != nullptr || row == nullptr) return std::nullopt;
  std::optional<SingleRelation> single = over(field(body, "relation"), true);
  if (!single) return std::nullopt;
  single->inserted.emplace();
  const Json* columns = field(body, "cols");
  if (columns != nullptr && columns->is_array() && columns->size() == row->size()) {
    for (std::size_t i = 0; i < columns->size(); ++i) {
      const Json* target = nodeOf(&(*columns)[i], "ResTarget");
      if (target == nullptr) continue;
      std::string name(text(field(*target, "name")));
      const Json* value = &(*row)[i];
      if (isDefault(value)) {
        single->defaulted.push_back(std::move(name));
        continue;
      }
      single->inserted->push_back(name);
      if (field(*target, "indirection") != nullptr) continue;  // k[1], k.field
      if (std::optional<FixedValue> fixed = fixedValue(value)) {
        single->fixed.push_back(FixedColumn{std::move(name), std::move(*fixed)});
      }
    }
  }
  if (const Json* conflict = field(body, "onConflictClause")) {
    readAssignments(field(*conflict, "targetList"), *single);
  }
  return single;
}

}  // namespace

std::optional<SingleRelation> findSingleRelation(std::string_view type, const Json& body) {
  if (type == "SelectStmt") return fromSelect(body);
  if (type == "UpdateStmt") return fromUpdate(body);
  if (type == "DeleteStmt") return fromDelete(body);
  if (type == "InsertStmt") return fromInsert(body);
  return std::nullopt;
}

}  // namespace pgswarm::sql::detail
