/*
 * The server's configuration, read once at start: `beebeebrain serve`'s flags
 * and environment variables go into one struct config, and server_run hands
 * it down in pieces (the store's options, the runtime's options, the
 * services' environment, the log's level and format). Nothing below the
 * server reads the environment.
 *
 * Every setting is one row of a table (config.c) with its default, the
 * values it accepts and its meaning; `serve --help` is printed from that
 * table, so the help and the parser cannot disagree. docs/configuration.md
 * says the same in more words.
 *
 * Rules: a flag overrides its variable; an empty variable counts as unset; a
 * value that is not a number, out of range, or not one of the listed words is
 * refused. config_load reports every refused setting (not only the first) as
 * a violation naming the variable or flag and the accepted values; `serve`
 * then stops before it touches the database, with exit status 2 like any
 * other usage error.
 *
 * Strings in a struct config point into the environment and the command line
 * given to config_load: they live as long as those do (the whole process, for
 * `serve`). Nothing is allocated.
 */
#ifndef BBB_CONFIG_H
#define BBB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#define CONFIG_MAX_URLS 16
#define CONFIG_CLAUDE_ENV_MAX 24

enum config_log_format { CONFIG_LOG_JSON = 0, CONFIG_LOG_TEXT };
enum config_durability { CONFIG_DURABILITY_FULL = 0, CONFIG_DURABILITY_NORMAL };

struct config {
	/* storage */
	const char *cf_db_path; /* --db, BEEBEEBRAIN_DB */
	int64_t cf_busy_timeout_ms; /* BEEBEEBRAIN_BUSY_TIMEOUT_MS */
	int64_t cf_db_locked_quiet_ms; /* BEEBEEBRAIN_DB_LOCKED_QUIET_MS */
	int cf_durability; /* --durability: enum config_durability */
	int64_t cf_event_retention_ms; /* --event-retention */
	/* listeners */
	const char *cf_rpc_urls[CONFIG_MAX_URLS]; /* --rpc; none given: the default */
	size_t cf_n_rpc_urls;
	const char *cf_event_urls[CONFIG_MAX_URLS]; /* --events; none given: the default */
	size_t cf_n_event_urls;
	const char *cf_http_urls[CONFIG_MAX_URLS]; /* --http, BEEBEEBRAIN_HTTP_URL; none given: the default */
	size_t cf_n_http_urls; /* 0 after `--http none`: no HTTP listener */
	int cf_http_none; /* `none` was given */
	/* The certificate chain and private key (PEM files) of every TLS listener:
	 * https:// (HTTP), tls+tcp:// and wss:// (RPC, events). Required when one
	 * is configured; read at start by config_read_tls. */
	const char *cf_tls_cert; /* --tls-cert, BEEBEEBRAIN_TLS_CERT */
	const char *cf_tls_key; /* --tls-key, BEEBEEBRAIN_TLS_KEY */
	int64_t cf_workers; /* --workers; 0: the default, 8 */
	int cf_autorun; /* --autorun */
	int cf_fault_injection; /* --enable-fault-injection */
	int cf_migrate; /* --migrate: apply migrations even on a schema held by `migrate down` */
	/* who may call, and where this runs */
	const char *cf_api_key; /* BEEBEEBRAIN_API_KEY; NULL: no authentication */
	const char *cf_env_name; /* BEEBEEBRAIN_ENV */
	/* logs */
	int cf_log_level; /* BEEBEEBRAIN_LOG_LEVEL: enum log_level */
	int cf_log_format; /* BEEBEEBRAIN_LOG_FORMAT: enum config_log_format */
	/* the runtime */
	int cf_runtime_off; /* BEEBEEBRAIN_RUNTIME=off */
	int64_t cf_llm_timeout_s; /* BEEBEEBRAIN_LLM_TIMEOUT_S: the runs' and the runtime's one default */
	int64_t cf_max_in_flight;
	int64_t cf_retry_max_attempts;
	int64_t cf_retry_base_ms;
	int64_t cf_retry_max_ms;
	int64_t cf_breaker_cooldown_ms;
	int64_t cf_release_spread_ms;
	int64_t cf_detector_interval_ms;
	int64_t cf_idle_timeout_s;
	int64_t cf_lease_ms; /* BEEBEEBRAIN_LEASE_MS: a run in flight's lease */
	int64_t cf_cost_threshold_micros; /* BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD in millionths; 0: off */
	const char *cf_pricing_path; /* BEEBEEBRAIN_PRICING; NULL: the built-in table */
	/* providers; base URLs default to each provider's public API */
	const char *cf_anthropic_base_url;
	const char *cf_anthropic_api_key; /* NULL: none */
	const char *cf_openai_base_url;
	const char *cf_openai_api_key; /* NULL: none */
	/* the claude_code provider's CLI */
	const char *cf_claude_cli; /* BEEBEEBRAIN_CLAUDE_CLI: a name looked up in PATH, or an absolute path */
	const char *cf_claude_settings; /* BEEBEEBRAIN_CLAUDE_SETTINGS: an absolute path; NULL: none */
	/* The CLI's whole environment: the "NAME=value" entries of the server's
	 * environment that it needs (config_claude_variables in config.c: PATH,
	 * HOME, the locale, the proxies, ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL
	 * when set), NULL-ended. Never a BEEBEEBRAIN_* variable. */
	const char *cf_claude_env[CONFIG_CLAUDE_ENV_MAX + 1];
	const char *cf_search_path; /* PATH, where a bare CLI name is looked up */
};

/* One command-line flag as given: its name ("--db") and its value (NULL for a
 * flag that takes none). A repeatable flag appears once per occurrence. */
struct config_arg {
	const char *ca_name;
	const char *ca_value;
};

/* Every setting at its default. */
void config_defaults(struct config *c);

/* Defaults, then the environment (envp: "NAME=value" strings, NULL-ended, as
 * `environ`; NULL: none), then the flags. Returns 0, or -1 with
 * INVALID_ARGUMENT VALIDATION_ERROR and one violation per refused setting
 * (field: the flag or variable; description: the value and what is
 * accepted; secret values are not repeated). *c is filled either way. */
int config_load(struct config *c, char *const *envp, const struct config_arg *args, size_t n_args, bbb_status *st);

/* Reads what the settings name (the price table), so that a file that cannot
 * be used stops the server at start as an invalid value does: -1 with a
 * violation on the variable. */
int config_check_files(const struct config *c, bbb_status *st);

/* Whether a listen URL needs the TLS certificate: https://, tls+tcp://, wss://. */
int config_url_is_tls(const char *url);

/* The contents of the TLS certificate and key files (NUL-terminated PEM,
 * malloc'd: the caller frees both), or NULL and NULL when neither is set.
 * -1 with a violation on the setting when a file cannot be read, is over
 * 1 MiB, or holds no PEM block. The server checks at start that the two
 * belong together (the listener refuses them otherwise). */
int config_read_tls(const struct config *c, char **cert_pem, char **key_pem, bbb_status *st);

/* The database path alone, by the same rules: the flag value when not NULL,
 * else BEEBEEBRAIN_DB, else the default (for the offline commands, which
 * read no other setting). -1 with a violation when the value is refused. */
int config_db_path(char *const *envp, const char *flag_value, const char **out, bbb_status *st);

/* The settings' part of `serve --help`: every flag and every variable with
 * its accepted values, its default and its meaning. Malloc'd; the caller
 * frees it. */
char *config_help(void);

/* True when NAME (len bytes) is a variable the server or the client commands
 * read: `serve` warns about other BEEBEEBRAIN_* names (a typo reads as
 * unset). */
int config_is_known_variable(const char *name, size_t len);

#endif
