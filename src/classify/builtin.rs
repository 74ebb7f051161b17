//! Built-in knowledge about pg_catalog functions.
//!
//! These lists let reads route to replicas before the proxy has fetched
//! `pg_proc`, and encode the judgement calls that `provolatile` alone cannot
//! make (volatile-but-harmless functions, SQL syntax that looks like a call).
//! All names are lowercase and live in `pg_catalog` unless noted.

/// Immutable pg_catalog functions in common use.
#[rustfmt::skip]
pub(super) const IMMUTABLE: &[&str] = &[
    // arithmetic
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sqrt", "cbrt", "power", "pow", "exp",
    "ln", "log", "log10", "mod", "sign", "div", "pi", "degrees", "radians", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "sind", "cosd", "width_bucket", "gcd", "lcm", "factorial",
    "scale", "min_scale", "trim_scale",
    // strings
    "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length",
    "bit_length", "substr", "substring", "replace", "btrim", "ltrim", "rtrim", "lpad", "rpad",
    "left", "right", "repeat", "reverse", "position", "strpos", "split_part", "md5", "sha224",
    "sha256", "sha384", "sha512", "encode", "decode", "ascii", "chr", "translate", "regexp_match",
    "regexp_matches", "regexp_replace", "regexp_split_to_array", "regexp_split_to_table",
    "regexp_like", "regexp_count", "regexp_substr", "regexp_instr", "starts_with",
    "string_to_array", "string_to_table", "to_hex", "quote_ident", "quote_literal",
    "quote_nullable", "overlay", "textlen", "unistr", "normalize", "casefold",
    // arrays
    "array_length", "array_lower", "array_upper", "array_ndims", "array_dims", "array_append",
    "array_prepend", "array_cat", "array_remove", "array_replace", "array_position",
    "array_positions", "cardinality", "unnest", "generate_subscripts", "array_fill", "trim_array",
    "array_reverse", "array_sort",
    // dates (the timezone-independent ones)
    "make_date", "make_time", "make_timestamp", "make_interval", "justify_days", "justify_hours",
    "justify_interval", "isfinite", "date_bin",
    // json / jsonb
    "jsonb_set", "jsonb_insert", "jsonb_pretty", "jsonb_typeof", "json_typeof",
    "jsonb_array_elements", "jsonb_array_elements_text", "json_array_elements",
    "json_array_elements_text", "jsonb_each", "jsonb_each_text", "json_each", "json_each_text",
    "jsonb_object_keys", "json_object_keys", "jsonb_array_length", "json_array_length",
    "jsonb_strip_nulls", "json_strip_nulls", "jsonb_path_query", "jsonb_path_exists",
    "jsonb_path_match", "jsonb_path_query_array", "jsonb_path_query_first", "jsonb_extract_path",
    "jsonb_extract_path_text", "json_extract_path", "json_extract_path_text", "jsonb_object",
    "json_object", "jsonb_concat", "jsonb_exists", "jsonb_contains",
    // network, text search, misc
    "host", "masklen", "network", "broadcast", "family", "netmask", "hostmask", "inet_merge",
    "setweight", "tsvector_to_array", "numnode", "querytree", "ts_rank", "ts_rank_cd", "strip",
    "num_nulls", "num_nonnulls", "pg_size_pretty", "pg_size_bytes", "int4", "int8", "int2",
    "float4", "float8", "numeric", "text", "bool", "varchar", "bpchar", "date",
    "uuid_extract_version", "uuid_extract_timestamp", "pg_char_to_encoding", "pg_encoding_to_char",
    "range_merge", "lower_inc", "upper_inc", "isempty", "lower_inf", "upper_inf", "multirange",
    "crc32", "crc32c",
];

/// Stable pg_catalog functions in common use (results depend on the
/// snapshot, settings or catalog, but they never write).
#[rustfmt::skip]
pub(super) const STABLE: &[&str] = &[
    // time
    "now", "transaction_timestamp", "statement_timestamp", "date_trunc", "date_part", "extract",
    "age", "to_char", "to_date", "to_timestamp", "to_number", "make_timestamptz", "timezone",
    "date_add", "date_subtract",
    // formatting and casts through output functions
    "format", "concat", "concat_ws", "array_to_string", "to_json", "to_jsonb", "row_to_json",
    "array_to_json", "json_build_object", "jsonb_build_object", "json_build_array",
    "jsonb_build_array", "json_populate_record", "jsonb_populate_record", "json_populate_recordset",
    "jsonb_populate_recordset", "json_to_record", "jsonb_to_record", "json_to_recordset",
    "jsonb_to_recordset", "jsonb_path_query_tz", "jsonb_path_exists_tz", "to_tsvector",
    "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery", "ts_headline",
    "generate_series",
    // aggregates and window functions
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every",
    "bit_and", "bit_or", "bit_xor", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop",
    "var_samp", "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_count",
    "regr_r2", "regr_avgx", "regr_avgy", "percentile_cont", "percentile_disc", "mode", "rank",
    "dense_rank", "percent_rank", "cume_dist", "row_number", "ntile", "lag", "lead", "first_value",
    "last_value", "nth_value", "any_value", "range_agg", "json_agg", "jsonb_agg", "json_object_agg",
    "jsonb_object_agg", "json_agg_strict", "jsonb_agg_strict", "xmlagg",
    // session and server information
    "current_setting", "current_user", "current_role", "session_user", "user", "system_user",
    "current_schema", "current_schemas", "current_database", "current_catalog", "version",
    "inet_server_addr", "inet_server_port", "inet_client_addr", "inet_client_port",
    "pg_backend_pid", "pg_postmaster_start_time", "pg_conf_load_time", "pg_current_snapshot",
    "txid_current_snapshot", "pg_listening_channels", "pg_my_temp_schema",
    "pg_is_other_temp_schema", "pg_trigger_depth", "pg_typeof", "pg_column_size",
    "pg_column_compression", "pg_input_is_valid", "pg_input_error_info", "pg_client_encoding",
    "pg_snapshot_xmin", "pg_snapshot_xmax", "pg_visible_in_snapshot",
    // privileges and visibility
    "has_table_privilege", "has_schema_privilege", "has_database_privilege", "has_column_privilege",
    "has_any_column_privilege", "has_function_privilege", "has_sequence_privilege",
    "has_type_privilege", "has_language_privilege", "has_tablespace_privilege",
    "has_foreign_data_wrapper_privilege", "has_server_privilege", "has_parameter_privilege",
    "pg_has_role", "row_security_active", "pg_table_is_visible", "pg_type_is_visible",
    "pg_function_is_visible", "pg_operator_is_visible", "pg_opclass_is_visible",
    "pg_opfamily_is_visible", "pg_collation_is_visible", "pg_conversion_is_visible",
    "pg_statistics_obj_is_visible", "pg_ts_config_is_visible", "pg_ts_dict_is_visible",
    "pg_ts_parser_is_visible", "pg_ts_template_is_visible",
    // catalog information (psql's \d family)
    "format_type", "pg_get_userbyid", "pg_get_viewdef", "pg_get_ruledef", "pg_get_indexdef",
    "pg_get_constraintdef", "pg_get_triggerdef", "pg_get_functiondef", "pg_get_expr",
    "pg_get_function_arguments", "pg_get_function_identity_arguments", "pg_get_function_result",
    "pg_get_function_sqlbody", "pg_get_serial_sequence", "pg_get_statisticsobjdef",
    "pg_get_statisticsobjdef_columns", "pg_get_statisticsobjdef_expressions", "pg_get_partkeydef",
    "pg_get_partition_constraintdef", "pg_get_keywords", "pg_get_catalog_foreign_keys",
    "pg_get_object_address", "pg_identify_object", "pg_identify_object_as_address",
    "pg_describe_object", "pg_tablespace_location", "pg_options_to_table", "pg_settings_get_flags",
    "obj_description", "col_description", "shobj_description", "pg_partition_root",
    "pg_relation_is_publishable", "pg_relation_filenode", "pg_relation_filepath",
    "pg_filenode_relation", "pg_index_column_has_property", "pg_index_has_property",
    "pg_indexam_has_property", "pg_get_replica_identity_index", "pg_sequence_parameters",
    "pg_stat_get_numscans", "pg_stat_get_tuples_returned", "pg_stat_get_live_tuples",
    "pg_stat_get_dead_tuples", "pg_stat_get_activity", "pg_stat_get_backend_idset", "to_regclass",
    "to_regtype", "to_regproc", "to_regprocedure", "to_regnamespace", "to_regrole", "to_regoper",
    "to_regcollation", "to_regtypemod", "pg_encoding_max_length", "array_in", "array_out", "textin",
    "textout", "regclassin", "regclassout",
];

/// Volatile pg_catalog functions that are nevertheless harmless on a hot
/// standby: they neither write nor depend on session state that differs
/// between backends in a way that matters for routing.
#[rustfmt::skip]
pub(super) const VOLATILE_READ_SAFE: &[&str] = &[
    // Random values: a standby's generator is as good as the primary's.
    "random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "array_shuffle",
    "array_sample",
    // Wall-clock readings: no state, just the local clock.
    "clock_timestamp", "timeofday",
    // Sleeping only occupies the backend it runs on.
    "pg_sleep", "pg_sleep_for", "pg_sleep_until",
    // Recovery status: the point of asking is to learn which node answered.
    "pg_is_in_recovery", "pg_last_wal_replay_lsn", "pg_last_wal_receive_lsn",
    "pg_last_xact_replay_timestamp", "pg_is_wal_replay_paused", "pg_get_wal_replay_pause_state",
    // Size reporting reads files of the local cluster, which a standby mirrors.
    "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size",
    "pg_database_size", "pg_tablespace_size",
    // Monitoring: lock, backend and prepared-transaction status of the node asked.
    "pg_lock_status", "pg_prepared_xact", "pg_get_backend_memory_contexts",
    "pg_show_replication_origin_status", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
    "pg_jit_available",
    // Catalog lookups that are volatile only because they read live state.
    "pg_partition_tree", "pg_partition_ancestors", "pg_sequence_last_value",
    "pg_collation_actual_version",
];

/// pg_catalog functions that must run on the primary whatever `pg_proc`
/// says: they write, take locks, change session state or fail on a standby.
/// Most are volatile, but `txid_current` and `pg_current_xact_id` are
/// *stable* in pg_proc although they assign a transaction id, which a
/// standby refuses; this list overrides the catalog for all of them.
#[rustfmt::skip]
pub(super) const PRIMARY_ONLY: &[&str] = &[
    "nextval", "setval", "currval", "lastval", "set_config", "setseed", "pg_notify", "txid_current",
    "pg_current_xact_id", "pg_current_wal_lsn", "pg_current_wal_insert_lsn",
    "pg_current_wal_flush_lsn", "pg_switch_wal", "pg_create_restore_point", "pg_reload_conf",
    "pg_rotate_logfile", "pg_cancel_backend", "pg_terminate_backend", "pg_stat_reset",
    "pg_stat_reset_shared", "pg_stat_reset_single_table_counters", "pg_stat_clear_snapshot",
    "pg_export_snapshot", "pg_logical_emit_message", "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot", "pg_drop_replication_slot", "pg_read_file",
    "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_log_backend_memory_contexts",
    "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume", "lo_create", "lo_creat",
    "lo_unlink", "lo_import", "lo_export", "lo_open", "lo_close", "lo_put", "lo_get",
    "lo_from_bytea", "lo_truncate", "lowrite", "loread", "pg_import_system_collations",
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
    "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared", "pg_advisory_unlock",
    "pg_advisory_unlock_shared", "pg_advisory_unlock_all",
];

/// Names sqlparser reports as function calls although PostgreSQL parses them
/// as SQL syntax (so `pg_proc` has no row for them). Always reads.
#[rustfmt::skip]
pub(super) const SYNTAX_FUNCTIONS: &[&str] = &[
    "current_timestamp", "current_date", "current_time", "localtime", "localtimestamp",
    "current_user", "current_role", "session_user", "user", "system_user", "current_catalog",
    "current_schema", "coalesce", "nullif", "greatest", "least", "grouping", "xmlelement",
    "xmlforest", "xmlconcat", "xmlpi", "xmlroot", "xmlparse", "xmlserialize", "xmlexists",
    "json_object", "json_array", "json_objectagg", "json_arrayagg", "json_query", "json_value",
    "json_exists", "json_scalar", "json_serialize", "merge_action", "array", "row", "exists",
    "collation for", "treat", "position", "substring", "overlay", "trim", "extract", "normalize",
];

/// Functions that read the sequence state of the session they run in.
pub(super) const LAST_VALUE: &[&str] = &["lastval", "currval"];

/// Session-level advisory locks: held until released or the session ends,
/// so the session must stay on the backend that took them.
#[rustfmt::skip]
pub(super) const SESSION_ADVISORY_LOCKS: &[&str] = &[
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

/// Every advisory-lock function (session, transaction and unlock variants):
/// all of them are `Write(Locking)` because locks only coordinate on one node.
pub(super) fn is_advisory_lock_fn(name: &str) -> bool {
    name.starts_with("pg_advisory_") || name.starts_with("pg_try_advisory_")
}
