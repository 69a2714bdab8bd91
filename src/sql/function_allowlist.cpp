// The default safe-function list and the never-safe rules. The default holds
// only functions that do not write, take no locks and succeed during
// recovery; when in doubt a function stays out (the query goes to the primary).
#include "sql/function_allowlist.hpp"

#include <algorithm>
#include <array>

namespace pgswarm::sql {
namespace {

constexpr std::string_view kCatalogPrefix = "pg_catalog.";

// clang-format off
constexpr auto kDefaultNames = std::to_array<std::string_view>({
    // aggregates
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every",
    "bit_and", "bit_or", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "stddev",
    "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr", "percentile_cont",
    "percentile_disc", "mode",
    // window functions
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    // conditional and comparison (most are grammar nodes; listed for
    // function-call spellings)
    "coalesce", "nullif", "greatest", "least", "num_nonnulls", "num_nulls",
    // mathematics
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sqrt", "cbrt", "power", "pow", "exp",
    "ln", "log", "log10", "mod", "sign", "div", "pi", "degrees", "radians", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "width_bucket", "random", "gcd", "lcm", "scale",
    // strings
    "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length",
    "bit_length", "substr", "substring", "position", "strpos", "overlay", "trim", "btrim", "ltrim",
    "rtrim", "lpad", "rpad", "replace", "translate", "concat", "concat_ws", "left", "right",
    "reverse", "repeat", "split_part", "format", "md5", "sha224", "sha256", "sha384", "sha512",
    "encode", "decode", "ascii", "chr", "to_hex", "quote_ident", "quote_literal", "quote_nullable",
    "starts_with", "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array",
    "regexp_split_to_table", "regexp_count", "regexp_instr", "regexp_like", "regexp_substr",
    "string_to_array", "array_to_string", "normalize", "unistr", "convert_from", "convert_to",
    "like_escape", "similar_to_escape",
    // date and time
    "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
    "date_trunc", "date_part", "date_bin", "extract", "age", "make_date", "make_time",
    "make_timestamp", "make_timestamptz", "make_interval", "to_char", "to_date", "to_number",
    "to_timestamp", "timezone", "justify_days", "justify_hours", "justify_interval", "isfinite",
    "overlaps",
    // json and arrays
    "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object",
    "jsonb_build_object", "json_build_array", "jsonb_build_array", "json_object", "jsonb_object",
    "json_extract_path", "jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text",
    "json_array_length", "jsonb_array_length", "json_each", "jsonb_each", "json_each_text",
    "jsonb_each_text", "json_array_elements", "jsonb_array_elements", "json_array_elements_text",
    "jsonb_array_elements_text", "json_object_keys", "jsonb_object_keys", "json_typeof",
    "jsonb_typeof", "jsonb_pretty", "jsonb_set", "jsonb_insert", "jsonb_strip_nulls",
    "json_strip_nulls", "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first",
    "jsonb_path_exists", "jsonb_path_match", "json_populate_record", "jsonb_populate_record",
    "json_to_record", "jsonb_to_record", "json_to_recordset", "jsonb_to_recordset", "array_length",
    "array_upper", "array_lower", "array_ndims", "array_dims", "cardinality", "unnest",
    "array_append", "array_prepend", "array_cat", "array_position", "array_positions",
    "array_remove", "array_replace", "array_fill", "generate_series", "generate_subscripts",
    "trim_array",
    // types, identifiers, hashing
    "gen_random_uuid", "pg_typeof", "format_type", "hashtext", "hashint4", "hashint8",
    "to_regclass", "to_regtype", "to_regproc", "to_regnamespace", "pg_sleep",
    // session and server information
    // (not pg_backend_pid or pg_is_in_recovery: the client asks about its
    // own server, the primary, whose pid its BackendKeyData carries)
    "version", "current_setting", "current_database", "current_schema",
    "current_schemas", "current_user", "session_user", "current_role", "user",
    "inet_server_addr", "inet_server_port", "inet_client_addr", "inet_client_port",
    "pg_postmaster_start_time", "pg_conf_load_time", "pg_last_wal_receive_lsn",
    "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp", "pg_is_wal_replay_paused",
    "pg_get_wal_replay_pause_state", "pg_wal_lsn_diff", "has_table_privilege",
    "has_column_privilege", "has_schema_privilege", "has_database_privilege",
    "has_function_privilege", "has_sequence_privilege", "pg_has_role", "pg_table_is_visible",
    "pg_type_is_visible", "pg_function_is_visible", "pg_get_viewdef", "pg_get_constraintdef",
    "pg_get_indexdef", "pg_get_expr", "pg_get_functiondef", "pg_get_function_arguments",
    "pg_get_function_result", "pg_get_triggerdef", "pg_get_userbyid", "pg_get_serial_sequence",
    "col_description", "obj_description", "shobj_description", "pg_relation_size",
    "pg_total_relation_size", "pg_table_size", "pg_indexes_size", "pg_database_size",
    "pg_size_pretty", "pg_size_bytes", "pg_encoding_to_char", "pg_char_to_encoding",
    "pg_client_encoding",
});
// clang-format on

// Exact names that write, lock, change session or server state, or run SQL
// given as text (query_to_xml('DELETE ... RETURNING 1', ...), ts_stat).
// clang-format off
constexpr auto kNeverSafeNames = std::to_array<std::string_view>({
    "nextval", "setval", "currval", "lastval", "set_config", "setseed", "pg_notify",
    "txid_current", "txid_current_if_assigned", "pg_current_xact_id",
    "pg_current_xact_id_if_assigned", "pg_export_snapshot", "loread", "lowrite",
    "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml",
    "cursor_to_xmlschema", "ts_stat", "pg_cancel_backend", "pg_terminate_backend",
    "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal", "pg_switch_xlog", "pg_promote",
    "pg_start_backup", "pg_stop_backup", "pg_log_backend_memory_contexts",
    "pg_import_system_collations", "pg_drop_replication_slot", "pg_replication_slot_advance",
    "pg_logical_emit_message", "pg_nextoid",
});
// clang-format on

// Whole families: advisory locks (session or transaction scoped), large
// objects, dblink (runs arbitrary SQL elsewhere), statistics resets,
// restore points and replication slots, backups, logical decoding (consumes
// a slot), replication origins, WAL replay control (works on a standby, and
// pauses it), adminpack's file writes, binary-upgrade support.
// clang-format off
constexpr auto kNeverSafePrefixes = std::to_array<std::string_view>({
    "pg_advisory_", "pg_try_advisory_", "lo_", "dblink", "pg_stat_reset",
    "pg_stat_statements_reset", "pg_create_", "pg_copy_", "pg_backup_", "pg_logical_slot_",
    "pg_replication_origin_", "pg_wal_replay_", "pg_file_", "binary_upgrade_",
});
// clang-format on

bool validName(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  if (std::count(name.begin(), name.end(), '.') > 1) return false;
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace

std::span<const std::string_view> defaultFunctionNames() {
  return kDefaultNames;
}

std::string_view catalogName(std::string_view function) {
  if (function.starts_with(kCatalogPrefix)) function.remove_prefix(kCatalogPrefix.size());
  return function;
}

bool neverSafeFunction(std::string_view function) {
  // Only pg_catalog's own functions are known; a same-named function in
  // another schema is just unknown (and so unsafe unless listed).
  const std::string_view name = catalogName(function);
  if (std::find(kNeverSafeNames.begin(), kNeverSafeNames.end(), name) != kNeverSafeNames.end()) {
    return true;
  }
  return std::any_of(kNeverSafePrefixes.begin(), kNeverSafePrefixes.end(),
                     [&](std::string_view prefix) { return name.starts_with(prefix); });
}

FunctionAllowlist::FunctionAllowlist() {
  names_.reserve(kDefaultNames.size());
  for (std::string_view name : kDefaultNames) names_.emplace(name);
}

Result<FunctionAllowlist> FunctionAllowlist::fromNames(std::span<const std::string> names) {
  FunctionAllowlist list;
  list.names_.clear();
  for (const std::string& name : names) {
    if (!validName(name)) return makeError("invalid function name in allowlist: '{}'", name);
    list.names_.insert(name);
  }
  return list;
}

const FunctionAllowlist& FunctionAllowlist::defaults() {
  static const FunctionAllowlist kDefaults;
  return kDefaults;
}

bool FunctionAllowlist::allows(std::string_view function) const {
  if (neverSafeFunction(function)) return false;
  return names_.contains(catalogName(function)) || names_.contains(function);
}

}  // namespace pgswarm::sql
