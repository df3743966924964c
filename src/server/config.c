/*
 * The settings table and its parser (contract in config.h). One row per
 * setting: where it comes from (variable, flag or both), what kind of value
 * it takes, its bounds, its meaning, and where it lands in struct config.
 * Defaults are set by config_defaults from the constants of the modules that
 * use them (run_rules.h, retry_policy.h, breaker.h, runtime.h, the providers),
 * and the help prints them from there: no number is written twice.
 */
#include "server/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbuf.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/breaker.h"
#include "domain/retry_policy.h"
#include "domain/run_rules.h"
#include "http/http_server.h"
#include "runtime/pricing.h"
#include "runtime/provider.h"
#include "runtime/provider_claude.h"
#include "runtime/runtime.h"

#define CONFIG_DEFAULT_DB "./beebeebrain.db"
#define CONFIG_DEFAULT_RPC_URL "tcp://127.0.0.1:7420"
#define CONFIG_DEFAULT_EVENTS_URL "tcp://127.0.0.1:7421"
#define CONFIG_DEFAULT_HTTP_URL "http://127.0.0.1:7422"
#define CONFIG_URL_MAX 255 /* what the runtime keeps of a base URL */
#define CONFIG_NAME_MAX 64
#define CONFIG_SECRET_MAX 1024
#define CONFIG_PATH_MAX 4095
/* What the CLI finds when the server has no PATH. */
#define CONFIG_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

enum config_kind {
	CK_INT, /* a whole number in cs_min..cs_max (int64_t) */
	CK_USD, /* dollars with at most 6 decimals, 0..cs_max, kept in millionths (int64_t) */
	CK_WORD, /* one of cs_words, kept as its index (int) */
	CK_SWITCH, /* a flag without a value (int 1) */
	CK_NAME, /* letters, digits, '.', '_', '-' (const char *) */
	CK_SECRET, /* printable, no space (const char *); never repeated in an error */
	CK_URL, /* http:// or https:// (const char *) */
	CK_PATH, /* a file path (const char *) */
	CK_DB, /* a SQLite file path or a PostgreSQL connection string (const char *) */
	CK_ABS_PATH, /* an absolute file path (const char *) */
	CK_PROGRAM, /* a program name without '/', or an absolute path (const char *) */
	CK_LISTEN, /* a listen URL, repeatable (a list) */
	CK_HTTP_LISTEN, /* an http:// listen URL, repeatable (a list), or `none` (an empty list) */
	CK_DURATION, /* N and a unit, d h m or s (int64_t milliseconds) */
};

struct config_setting {
	const char *cs_env; /* NULL: a flag only */
	const char *cs_flag; /* NULL: a variable only */
	const char *cs_metavar; /* the flag's value in the help */
	enum config_kind cs_kind;
	int64_t cs_min, cs_max; /* CK_INT; CK_USD: cs_max dollars */
	const char *const *cs_words; /* CK_WORD, NULL-ended */
	const char *cs_unit; /* CK_INT: "seconds", "ms" */
	const char *cs_default_text; /* shown instead of the default value (NULL: the value) */
	const char *cs_meaning;
	size_t cs_off; /* the field in struct config */
	size_t cs_count_off; /* CK_LISTEN: the list's count */
};

static const char *const config_log_levels[] = {"debug", "info", "warning", "error", NULL};
static const char *const config_log_formats[] = {"json", "text", NULL};
static const char *const config_on_off[] = {"on", "off", NULL};
static const char *const config_durabilities[] = {"full", "normal", NULL};

/* The words are indexed by the enums they stand for. */
_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARNING == 2 && LOG_ERROR == 3, "log level words");
_Static_assert(CONFIG_LOG_JSON == 0 && CONFIG_LOG_TEXT == 1, "log format words");
_Static_assert(CONFIG_DURABILITY_FULL == 0 && CONFIG_DURABILITY_NORMAL == 1, "durability words");

#define F(field) offsetof(struct config, field)

/* clang-format off */
static const struct config_setting config_settings[] = {
	/* flags of `serve`, in the order of its usage line */
	{.cs_env = "BEEBEEBRAIN_DB", .cs_flag = "--db", .cs_metavar = "PATH|URL", .cs_kind = CK_DB,
	 .cs_meaning = "the SQLite database file, or a PostgreSQL database (postgres://... or host=... dbname=...: "
		       "several servers on one database, docs/scale-out.md)",
	 .cs_off = F(cf_db_path)},
	{.cs_flag = "--rpc", .cs_metavar = "URL", .cs_kind = CK_LISTEN,
	 .cs_meaning = "RPC listen URL, repeatable", .cs_off = F(cf_rpc_urls), .cs_count_off = F(cf_n_rpc_urls)},
	{.cs_flag = "--events", .cs_metavar = "URL", .cs_kind = CK_LISTEN,
	 .cs_meaning = "event publish URL, repeatable", .cs_off = F(cf_event_urls),
	 .cs_count_off = F(cf_n_event_urls)},
	{.cs_env = "BEEBEEBRAIN_HTTP_URL", .cs_flag = "--http", .cs_metavar = "URL", .cs_kind = CK_HTTP_LISTEN,
	 .cs_meaning = "HTTP listen URL (Connect calls, /api/v1 REST, /healthz, /readyz, /metrics), repeatable; none: no HTTP listener",
	 .cs_off = F(cf_http_urls), .cs_count_off = F(cf_n_http_urls)},
	{.cs_env = "BEEBEEBRAIN_TLS_CERT", .cs_flag = "--tls-cert", .cs_metavar = "FILE", .cs_kind = CK_PATH,
	 .cs_default_text = "unset: no TLS listener allowed",
	 .cs_meaning = "PEM certificate (chain) of the https://, tls+tcp:// and wss:// listeners", .cs_off = F(cf_tls_cert)},
	{.cs_env = "BEEBEEBRAIN_TLS_KEY", .cs_flag = "--tls-key", .cs_metavar = "FILE", .cs_kind = CK_PATH,
	 .cs_default_text = "unset", .cs_meaning = "PEM private key of that certificate (unencrypted)",
	 .cs_off = F(cf_tls_key)},
	{.cs_flag = "--workers", .cs_metavar = "N", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 1024,
	 .cs_default_text = "8",
	 .cs_meaning = "worker threads of the RPC and HTTP listeners, for writes and calls that wait (nng reads run on nng's own threads); one spare beside them",
	 .cs_off = F(cf_workers)},
	{.cs_flag = "--autorun", .cs_kind = CK_SWITCH,
	 .cs_meaning = "queue runs for ready tasks with an assignee automatically", .cs_off = F(cf_autorun)},
	{.cs_flag = "--durability", .cs_metavar = "D", .cs_kind = CK_WORD, .cs_words = config_durabilities,
	 .cs_meaning = "full: an acknowledged write survives power loss; normal: faster",
	 .cs_off = F(cf_durability)},
	{.cs_flag = "--enable-fault-injection", .cs_kind = CK_SWITCH,
	 .cs_meaning = "allow AdminService/InjectFault (drills and tests only)", .cs_off = F(cf_fault_injection)},
	{.cs_flag = "--migrate", .cs_kind = CK_SWITCH,
	 .cs_meaning = "apply pending migrations even to a schema `migrate down` holds", .cs_off = F(cf_migrate)},
	{.cs_flag = "--event-retention", .cs_metavar = "D", .cs_kind = CK_DURATION, .cs_default_text = "30d",
	 .cs_meaning = "keep events this long: 30d, 12h, 45m, 90s", .cs_off = F(cf_event_retention_ms)},

	/* the server */
	{.cs_env = "BEEBEEBRAIN_API_KEY", .cs_kind = CK_SECRET, .cs_default_text = "unset: no authentication",
	 .cs_meaning = "the key every client must send (health and ready excepted)", .cs_off = F(cf_api_key)},
	{.cs_env = "BEEBEEBRAIN_ENV", .cs_kind = CK_NAME,
	 .cs_meaning = "the deployment's name (production, staging ...), reported by `health`",
	 .cs_off = F(cf_env_name)},
	{.cs_env = "BEEBEEBRAIN_BUSY_TIMEOUT_MS", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 600000, .cs_unit = "ms",
	 .cs_meaning = "how long a write waits for the write lock (SQLite's; PostgreSQL's lock_timeout) before it is answered "
			       "DB_LOCKED",
	 .cs_off = F(cf_busy_timeout_ms)},
	{.cs_env = "BEEBEEBRAIN_DB_LOCKED_QUIET_MS", .cs_kind = CK_INT, .cs_min = 1000, .cs_max = 86400000,
	 .cs_unit = "ms", .cs_meaning = "how long writes must go through without a lock failure before DB_LOCKED resolves",
	 .cs_off = F(cf_db_locked_quiet_ms)},
	{.cs_env = "BEEBEEBRAIN_LOG_LEVEL", .cs_kind = CK_WORD, .cs_words = config_log_levels,
	 .cs_meaning = "the least severe server log line written", .cs_off = F(cf_log_level)},
	{.cs_env = "BEEBEEBRAIN_LOG_FORMAT", .cs_kind = CK_WORD, .cs_words = config_log_formats,
	 .cs_meaning = "server log lines on stderr: one JSON object each, or plain text",
	 .cs_off = F(cf_log_format)},

	/* the runtime */
	{.cs_env = "BEEBEEBRAIN_RUNTIME", .cs_kind = CK_WORD, .cs_words = config_on_off,
	 .cs_meaning = "off: accept runs but start none (maintenance)", .cs_off = F(cf_runtime_off)},
	{.cs_env = "BEEBEEBRAIN_LLM_TIMEOUT_S", .cs_kind = CK_INT, .cs_min = 1, .cs_max = RUN_MAX_TIMEOUT_S,
	 .cs_unit = "seconds",
	 .cs_meaning = "timeout of a provider call, for a run that sets none (task run --timeout); stored on the run",
	 .cs_off = F(cf_llm_timeout_s)},
	{.cs_env = "BEEBEEBRAIN_MAX_IN_FLIGHT", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 10000,
	 .cs_meaning = "provider calls in flight at once, all agents together", .cs_off = F(cf_max_in_flight)},
	{.cs_env = "BEEBEEBRAIN_RETRY_MAX_ATTEMPTS", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 100,
	 .cs_meaning = "attempts per run, the first included", .cs_off = F(cf_retry_max_attempts)},
	{.cs_env = "BEEBEEBRAIN_RETRY_BASE_MS", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 3600000, .cs_unit = "ms",
	 .cs_meaning = "retry delay after the first failure; doubles per attempt, with full jitter",
	 .cs_off = F(cf_retry_base_ms)},
	{.cs_env = "BEEBEEBRAIN_RETRY_MAX_MS", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 86400000, .cs_unit = "ms",
	 .cs_meaning = "the longest retry delay; not below BEEBEEBRAIN_RETRY_BASE_MS", .cs_off = F(cf_retry_max_ms)},
	{.cs_env = "BEEBEEBRAIN_BREAKER_COOLDOWN_MS", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 3600000,
	 .cs_unit = "ms", .cs_meaning = "first cool-down of an open circuit breaker; doubles up to 5 minutes",
	 .cs_off = F(cf_breaker_cooldown_ms)},
	{.cs_env = "BEEBEEBRAIN_RELEASE_SPREAD_MS", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 3600000,
	 .cs_unit = "ms", .cs_meaning = "window over which held runs start again after a breaker closes",
	 .cs_off = F(cf_release_spread_ms)},
	{.cs_env = "BEEBEEBRAIN_DETECTOR_INTERVAL_MS", .cs_kind = CK_INT, .cs_min = 100, .cs_max = 86400000,
	 .cs_unit = "ms", .cs_meaning = "how often the alert detectors run", .cs_off = F(cf_detector_interval_ms)},
	{.cs_env = "BEEBEEBRAIN_IDLE_TIMEOUT_S", .cs_kind = CK_INT, .cs_min = 1, .cs_max = 604800,
	 .cs_unit = "seconds", .cs_meaning = "a running run without a log line for this long raises RUN_IDLE_TIMEOUT",
	 .cs_off = F(cf_idle_timeout_s)},
	{.cs_env = "BEEBEEBRAIN_LEASE_MS", .cs_kind = CK_INT, .cs_min = 300, .cs_max = 3600000, .cs_unit = "ms",
	 .cs_meaning = "a run in flight, or a claimed request id, stays leased to its server this long, renewed every third "
		       "of it",
	 .cs_off = F(cf_lease_ms)},
	{.cs_env = "BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD", .cs_kind = CK_USD, .cs_max = 1000000,
	 .cs_default_text = "0: off",
	 .cs_meaning = "a provider/model's cost of the day above this raises COST_THRESHOLD_EXCEEDED",
	 .cs_off = F(cf_cost_threshold_micros)},
	{.cs_env = "BEEBEEBRAIN_PRICING", .cs_kind = CK_PATH, .cs_default_text = "the built-in table",
	 .cs_meaning = "price table file: JSON like pricing.json, USD per million input/output/cache tokens",
	 .cs_off = F(cf_pricing_path)},

	/* providers */
	{.cs_env = "ANTHROPIC_API_KEY", .cs_kind = CK_SECRET, .cs_default_text = "unset: none sent",
	 .cs_meaning = "key of the anthropic provider", .cs_off = F(cf_anthropic_api_key)},
	{.cs_env = "ANTHROPIC_BASE_URL", .cs_kind = CK_URL, .cs_meaning = "base URL of the Anthropic Messages API",
	 .cs_off = F(cf_anthropic_base_url)},
	{.cs_env = "OPENAI_API_KEY", .cs_kind = CK_SECRET, .cs_default_text = "unset: none sent",
	 .cs_meaning = "key of the openai provider", .cs_off = F(cf_openai_api_key)},
	{.cs_env = "OPENAI_BASE_URL", .cs_kind = CK_URL,
	 .cs_meaning = "base URL of the Chat Completions API; also Ollama, vLLM, llama.cpp servers",
	 .cs_off = F(cf_openai_base_url)},
	{.cs_env = "BEEBEEBRAIN_CLAUDE_CLI", .cs_kind = CK_PROGRAM,
	 .cs_meaning = "the Claude Code CLI the claude_code provider runs, in the project's root",
	 .cs_off = F(cf_claude_cli)},
	{.cs_env = "BEEBEEBRAIN_CLAUDE_SETTINGS", .cs_kind = CK_ABS_PATH, .cs_default_text = "unset: none",
	 .cs_meaning = "a Claude Code settings file given to every run of the CLI (--settings); read at start",
	 .cs_off = F(cf_claude_settings)},
};
/* clang-format on */

#define CONFIG_N_SETTINGS (sizeof(config_settings) / sizeof(config_settings[0]))

/* The variables of the server's environment that the claude_code CLI gets
 * (when set and not empty); nothing else of it reaches the CLI. */
static const char *const config_claude_variables[] = {
	"PATH",
	"HOME",
	"USER",
	"LOGNAME",
	"LANG",
	"LC_ALL",
	"LC_CTYPE",
	"TZ",
	"TMPDIR",
	"HTTPS_PROXY",
	"HTTP_PROXY",
	"NO_PROXY",
	"https_proxy",
	"http_proxy",
	"no_proxy",
	"CLAUDE_CONFIG_DIR",
	"ANTHROPIC_API_KEY",
	"ANTHROPIC_BASE_URL",
};
_Static_assert(sizeof(config_claude_variables) / sizeof(config_claude_variables[0]) < CONFIG_CLAUDE_ENV_MAX,
	       "room for the default PATH");

/* Variables only the client commands read (src/client/, src/cli/). */
static const char *const config_client_variables[] = {"BEEBEEBRAIN_RPC_URL", "BEEBEEBRAIN_EVENTS_URL",
						      "BEEBEEBRAIN_TLS_CA"};

void config_defaults(struct config *c)
{
	struct retry_policy rp = RETRY_POLICY_DEFAULT;
	struct breaker_config bc = BREAKER_CONFIG_DEFAULT;

	memset(c, 0, sizeof(*c));
	c->cf_db_path = CONFIG_DEFAULT_DB;
	c->cf_busy_timeout_ms = 5000;
	c->cf_db_locked_quiet_ms = 60000;
	c->cf_durability = CONFIG_DURABILITY_FULL;
	c->cf_event_retention_ms = 30LL * 24 * 3600 * 1000;
	c->cf_rpc_urls[0] = CONFIG_DEFAULT_RPC_URL;
	c->cf_n_rpc_urls = 1;
	c->cf_event_urls[0] = CONFIG_DEFAULT_EVENTS_URL;
	c->cf_n_event_urls = 1;
	c->cf_http_urls[0] = CONFIG_DEFAULT_HTTP_URL;
	c->cf_n_http_urls = 1;
	c->cf_env_name = "local";
	c->cf_log_level = LOG_INFO;
	c->cf_log_format = CONFIG_LOG_JSON;
	c->cf_llm_timeout_s = RUN_DEFAULT_TIMEOUT_S;
	c->cf_max_in_flight = RUNTIME_DEFAULT_MAX_IN_FLIGHT;
	c->cf_retry_max_attempts = rp.rp_max_attempts;
	c->cf_retry_base_ms = rp.rp_base_ms;
	c->cf_retry_max_ms = rp.rp_max_ms;
	c->cf_breaker_cooldown_ms = bc.bc_cooldown_ms;
	c->cf_release_spread_ms = RUNTIME_DEFAULT_RELEASE_SPREAD_MS;
	c->cf_detector_interval_ms = RUNTIME_DEFAULT_DETECTOR_INTERVAL_MS;
	c->cf_idle_timeout_s = RUNTIME_DEFAULT_IDLE_TIMEOUT_MS / 1000;
	c->cf_lease_ms = RUNTIME_LEASE_MS;
	c->cf_anthropic_base_url = provider_anthropic.p_default_base;
	c->cf_openai_base_url = provider_openai.p_default_base;
	c->cf_claude_cli = PROVIDER_CLAUDE_DEFAULT_CLI;
	c->cf_claude_env[0] = "PATH=" CONFIG_DEFAULT_PATH;
	c->cf_search_path = CONFIG_DEFAULT_PATH;
}

/* ---- values */

static const char *config_env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* A value to parse, and the name a violation gives it: the flag when the
 * value came from it, else the variable. */
struct config_value {
	const char *v_text;
	const char *v_field;
};

/* A violation: "'<value>' <what>: accepted <accepted>". The value is shown
 * cut to 40 bytes, control characters as '?'. */
static int config_refuse(bbb_status *st, const struct config_value *v, const char *what, const char *accepted)
{
	char shown[48];
	size_t n = strlen(v->v_text);

	snprintf(shown, sizeof(shown), "%.40s%s", v->v_text, n > 40 ? "..." : "");
	for (char *p = shown; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p == 0x7f)
			*p = '?';
	return status_violation(st, v->v_field, "'%s' %s: accepted %s", shown, what, accepted);
}

/* The accepted values of a setting, as the help and the errors say them. */
static void config_accepted(const struct config_setting *s, struct dbuf *b)
{
	switch (s->cs_kind) {
	case CK_INT:
		dbuf_printf(b, "%lld..%lld%s%s", (long long)s->cs_min, (long long)s->cs_max, s->cs_unit ? " " : "",
			    s->cs_unit ? s->cs_unit : "");
		break;
	case CK_USD:
		dbuf_printf(b, "0..%lld dollars, up to 6 decimals", (long long)s->cs_max);
		break;
	case CK_WORD:
		for (size_t i = 0; s->cs_words[i] != NULL; i++)
			dbuf_printf(b, "%s%s", i > 0 ? "|" : "", s->cs_words[i]);
		break;
	case CK_SWITCH:
		break;
	case CK_NAME:
		dbuf_printf(b, "1..%d letters, digits, '.', '_', '-'", CONFIG_NAME_MAX);
		break;
	case CK_SECRET:
		dbuf_printf(b, "printable characters, no spaces, at most %d bytes", CONFIG_SECRET_MAX);
		break;
	case CK_URL:
		dbuf_printf(b, "an http:// or https:// URL, at most %d bytes", CONFIG_URL_MAX);
		break;
	case CK_PATH:
		dbuf_addstr(b, "a file path");
		break;
	case CK_DB:
		dbuf_addstr(b, "a file path or a PostgreSQL connection string");
		break;
	case CK_ABS_PATH:
		dbuf_addstr(b, "an absolute file path");
		break;
	case CK_PROGRAM:
		dbuf_addstr(b, "a program name looked up in PATH, or an absolute path");
		break;
	case CK_LISTEN:
		dbuf_printf(b, "tcp://HOST:PORT or ipc://PATH, at most %d", CONFIG_MAX_URLS);
		break;
	case CK_HTTP_LISTEN:
		dbuf_printf(b, "http[s]://HOST:PORT, at most %d, or none", CONFIG_MAX_URLS);
		break;
	case CK_DURATION:
		dbuf_addstr(b, "a number and d, h, m or s");
		break;
	}
}

static int config_parse_int(const struct config_setting *s, const struct config_value *v, int64_t *out,
			    const char *accepted, bbb_status *st)
{
	const char *t = v->v_text;
	char *end;
	long long n;

	/* strtoll alone would take " 5", "+5", "5 " or "0x5". */
	if (!((t[0] >= '0' && t[0] <= '9') || (t[0] == '-' && t[1] >= '0' && t[1] <= '9')))
		return config_refuse(st, v, "is not a whole number", accepted);
	errno = 0;
	n = strtoll(t, &end, 10);
	if (*end != '\0')
		return config_refuse(st, v, "is not a whole number", accepted);
	if (errno == ERANGE || n < s->cs_min || n > s->cs_max)
		return config_refuse(st, v, "is out of range", accepted);
	*out = n;
	return 0;
}

/* "12", "0.5", "1.25": dollars into millionths, without floating point. */
static int config_parse_usd(const struct config_setting *s, const struct config_value *v, int64_t *out,
			    const char *accepted, bbb_status *st)
{
	const char *p = v->v_text;
	int64_t whole = 0, frac = 0;
	int digits = 0, decimals = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++)
		if (whole <= s->cs_max)
			whole = whole * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, decimals++)
			if (decimals < 6)
				frac = frac * 10 + (*p - '0');
	if (digits == 0 || *p != '\0' || (v->v_text[digits] == '.' && decimals == 0))
		return config_refuse(st, v, "is not an amount", accepted);
	if (decimals > 6)
		return config_refuse(st, v, "has more than 6 decimals", accepted);
	for (int i = decimals; i < 6; i++)
		frac *= 10;
	if (whole > s->cs_max || (whole == s->cs_max && frac > 0))
		return config_refuse(st, v, "is out of range", accepted);
	*out = whole * 1000000 + frac;
	return 0;
}

static int config_parse_word(const struct config_setting *s, const struct config_value *v, int *out,
			     const char *accepted, bbb_status *st)
{
	for (int i = 0; s->cs_words[i] != NULL; i++)
		if (strcmp(v->v_text, s->cs_words[i]) == 0) {
			*out = i;
			return 0;
		}
	return config_refuse(st, v, "is unknown", accepted);
}

/* "30d", "12h", "45m", "90s" -> milliseconds (> 0). */
static int config_parse_duration(const struct config_value *v, int64_t *out, const char *accepted, bbb_status *st)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	const char *t = v->v_text;
	char *end;
	long long n;

	if (t[0] < '0' || t[0] > '9')
		return config_refuse(st, v, "is not a duration", accepted);
	n = strtoll(t, &end, 10);
	if (n <= 0 || n > 36500LL * 24)
		return config_refuse(st, v, "is out of range (1 to 876000 units)", accepted);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			*out = n * units[i].ms;
			return 0;
		}
	return config_refuse(st, v, "is not a duration", accepted);
}

static int config_is_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
	       ch == '_' || ch == '-';
}

/* Text kinds: the string itself, checked. */
static int config_parse_text(const struct config_setting *s, const struct config_value *v, const char **out,
			     const char *accepted, bbb_status *st)
{
	const char *t = v->v_text;
	size_t n = strlen(t);

	switch (s->cs_kind) {
	case CK_NAME:
		for (size_t i = 0; i < n; i++)
			if (!config_is_name_char(t[i]))
				return config_refuse(st, v, "has a character outside the set", accepted);
		if (n > CONFIG_NAME_MAX)
			return config_refuse(st, v, "is too long", accepted);
		break;
	case CK_SECRET:
		/* Keys go into HTTP headers and the RPC envelope: a newline or a
		 * space there would split or end them. The value is not repeated. */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] == 0x7f)
				return status_violation(st, v->v_field,
							"holds a space or a control character: accepted %s", accepted);
		if (n > CONFIG_SECRET_MAX)
			return status_violation(st, v->v_field, "is %zu bytes long: accepted %s", n, accepted);
		break;
	case CK_URL:
		if ((strncmp(t, "http://", 7) != 0 || n == 7) && (strncmp(t, "https://", 8) != 0 || n == 8))
			return config_refuse(st, v, "is not a URL", accepted);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] == 0x7f)
				return config_refuse(st, v, "holds a space or a control character", accepted);
		if (n > CONFIG_URL_MAX)
			return config_refuse(st, v, "is too long", accepted);
		break;
	default:
		if (n == 0)
			return config_refuse(st, v, "is empty", accepted);
		if (n > CONFIG_PATH_MAX)
			return config_refuse(st, v, "is too long", accepted);
		/* The CLI runs in the project's root: a relative path would name
		 * another file there than here. */
		if (s->cs_kind == CK_ABS_PATH && t[0] != '/')
			return config_refuse(st, v, "is not an absolute path", accepted);
		if (s->cs_kind == CK_PROGRAM && strchr(t, '/') != NULL && t[0] != '/')
			return config_refuse(st, v, "is a relative path", accepted);
		break;
	}
	*out = t;
	return 0;
}

/* An HTTP listen URL appended to its list, or `none`, which leaves the list
 * empty and goes with no URL. */
static int config_parse_http(struct config *c, const struct config_setting *s, const struct config_value *v,
			     const char *accepted, bbb_status *st)
{
	size_t *n = (size_t *)(void *)((char *)c + s->cs_count_off);
	char why[128];

	if (strcmp(v->v_text, "none") == 0) {
		if (*n > 0)
			return config_refuse(st, v, "cannot go with a URL", accepted);
		c->cf_http_none = 1;
		return 0;
	}
	if (c->cf_http_none)
		return config_refuse(st, v, "cannot go with none", accepted);
	if (*n >= CONFIG_MAX_URLS)
		return config_refuse(st, v, "is one URL too many", accepted);
	if (http_url_check(v->v_text, why, sizeof(why)) != 0)
		return config_refuse(st, v, why, accepted);
	((const char **)(void *)((char *)c + s->cs_off))[(*n)++] = v->v_text;
	return 0;
}

/* Parses one value into its field of c. */
static int config_apply(struct config *c, const struct config_setting *s, const struct config_value *v, bbb_status *st)
{
	char *field = (char *)c + s->cs_off;
	char accepted[160];
	struct dbuf b;

	dbuf_init(&b, sizeof(accepted) - 1);
	config_accepted(s, &b);
	snprintf(accepted, sizeof(accepted), "%s", dbuf_str(&b));
	dbuf_free(&b);
	switch (s->cs_kind) {
	case CK_INT:
		return config_parse_int(s, v, (int64_t *)(void *)field, accepted, st);
	case CK_USD:
		return config_parse_usd(s, v, (int64_t *)(void *)field, accepted, st);
	case CK_WORD:
		return config_parse_word(s, v, (int *)(void *)field, accepted, st);
	case CK_SWITCH:
		*(int *)(void *)field = 1;
		return 0;
	case CK_DURATION:
		return config_parse_duration(v, (int64_t *)(void *)field, accepted, st);
	case CK_LISTEN: {
		size_t *n = (size_t *)(void *)((char *)c + s->cs_count_off);
		if (*n >= CONFIG_MAX_URLS)
			return config_refuse(st, v, "is one URL too many", accepted);
		if (v->v_text[0] == '\0')
			return config_refuse(st, v, "is empty", accepted);
		((const char **)(void *)field)[(*n)++] = v->v_text;
		return 0;
	}
	case CK_HTTP_LISTEN:
		return config_parse_http(c, s, v, accepted, st);
	default:
		return config_parse_text(s, v, (const char **)(void *)field, accepted, st);
	}
}

/* ---- loading */

/* Applies every occurrence of the setting's flag; returns how many there were. */
static int config_apply_flags(struct config *c, const struct config_setting *s, const struct config_arg *args,
			      size_t n_args, bbb_status *st)
{
	int seen = 0;

	for (size_t i = 0; i < n_args && s->cs_flag != NULL; i++) {
		if (strcmp(args[i].ca_name, s->cs_flag) != 0)
			continue;
		/* The first --rpc replaces the default list; a single-valued
		 * flag given twice keeps the last. */
		if (seen++ == 0 && (s->cs_kind == CK_LISTEN || s->cs_kind == CK_HTTP_LISTEN))
			*(size_t *)(void *)((char *)c + s->cs_count_off) = 0;
		struct config_value v = {args[i].ca_value != NULL ? args[i].ca_value : "", s->cs_flag};
		config_apply(c, s, &v, st);
	}
	return seen;
}

/* One setting: its flags when given, else its variable when set. */
static void config_load_one(struct config *c, const struct config_setting *s, char *const *envp,
			    const struct config_arg *args, size_t n_args, bbb_status *st)
{
	const char *env = s->cs_env != NULL ? config_env_get(envp, s->cs_env) : NULL;
	struct config_value v = {env, s->cs_env};

	if (config_apply_flags(c, s, args, n_args, st) != 0 || env == NULL || env[0] == '\0')
		return;
	/* A variable names one URL, which replaces the default. */
	if (s->cs_kind == CK_LISTEN || s->cs_kind == CK_HTTP_LISTEN)
		*(size_t *)(void *)((char *)c + s->cs_count_off) = 0;
	config_apply(c, s, &v, st);
}

/* The claude_code CLI's environment, picked from the server's (config.h). */
static void config_claude_env(struct config *c, char *const *envp)
{
	size_t n = 0;
	const char *path = NULL;

	for (size_t i = 0; i < sizeof(config_claude_variables) / sizeof(config_claude_variables[0]); i++) {
		const char *name = config_claude_variables[i], *v = config_env_get(envp, name);
		if (v == NULL || v[0] == '\0')
			continue;
		if (strcmp(name, "PATH") == 0)
			path = v;
		c->cf_claude_env[n++] = v - strlen(name) - 1; /* the whole "NAME=value" entry */
	}
	if (path != NULL) {
		c->cf_search_path = path;
	} else {
		memmove(&c->cf_claude_env[1], &c->cf_claude_env[0], n * sizeof(c->cf_claude_env[0]));
		c->cf_claude_env[0] = "PATH=" CONFIG_DEFAULT_PATH;
		n++;
	}
	c->cf_claude_env[n] = NULL;
}

int config_url_is_tls(const char *url)
{
	return strncmp(url, "https://", 8) == 0 || strncmp(url, "tls+tcp", 7) == 0 || strncmp(url, "wss", 3) == 0;
}

/* The first listen URL that needs TLS, or NULL. */
static const char *config_first_tls_url(const struct config *c)
{
	for (size_t i = 0; i < c->cf_n_rpc_urls; i++)
		if (config_url_is_tls(c->cf_rpc_urls[i]))
			return c->cf_rpc_urls[i];
	for (size_t i = 0; i < c->cf_n_event_urls; i++)
		if (config_url_is_tls(c->cf_event_urls[i]))
			return c->cf_event_urls[i];
	for (size_t i = 0; i < c->cf_n_http_urls; i++)
		if (config_url_is_tls(c->cf_http_urls[i]))
			return c->cf_http_urls[i];
	return NULL;
}

/* A certificate goes with its key, and a TLS listener with both. */
static void config_check_tls(const struct config *c, bbb_status *st)
{
	const char *url = config_first_tls_url(c);

	if ((c->cf_tls_cert == NULL) != (c->cf_tls_key == NULL))
		status_violation(st, c->cf_tls_cert == NULL ? "--tls-cert" : "--tls-key",
				 "is not set while %s is: a certificate needs its key and a key its certificate",
				 c->cf_tls_cert == NULL ? "--tls-key" : "--tls-cert");
	else if (url != NULL && c->cf_tls_cert == NULL)
		status_violation(st, "--tls-cert", "is not set: the listener %s needs --tls-cert and --tls-key", url);
}

int config_load(struct config *c, char *const *envp, const struct config_arg *args, size_t n_args, bbb_status *st)
{
	status_clear(st);
	config_defaults(c);
	for (size_t i = 0; i < CONFIG_N_SETTINGS; i++)
		config_load_one(c, &config_settings[i], envp, args, n_args, st);
	config_claude_env(c, envp);
	if (c->cf_retry_max_ms < c->cf_retry_base_ms)
		status_violation(st, "BEEBEEBRAIN_RETRY_MAX_MS",
				 "%lld is below BEEBEEBRAIN_RETRY_BASE_MS (%lld): the cap must be at least the base",
				 (long long)c->cf_retry_max_ms, (long long)c->cf_retry_base_ms);
	config_check_tls(c, st);
	if (st->code == BBB_OK)
		return 0;
	snprintf(st->message, sizeof(st->message), "invalid configuration: %d setting(s)%s", st->n_violations,
		 st->n_violations >= BBB_MAX_VIOLATIONS ? " or more" : "");
	return -1;
}

/* The Claude Code settings file: a JSON object the server can read. */
static int config_check_claude_settings(const struct config *c, bbb_status *st)
{
	json_error_t err;
	json_t *root;

	if (c->cf_claude_settings == NULL)
		return 0;
	root = json_load_file(c->cf_claude_settings, 0, &err);
	if (!json_is_object(root)) {
		status_violation(st, "BEEBEEBRAIN_CLAUDE_SETTINGS", "cannot be used: %s: %s", c->cf_claude_settings,
				 root == NULL ? err.text : "not a JSON object");
		json_decref(root);
		snprintf(st->message, sizeof(st->message), "invalid configuration: 1 setting(s)");
		return -1;
	}
	json_decref(root);
	return 0;
}

#define CONFIG_PEM_MAX ((size_t)1 << 20)

/* A whole PEM file, NUL-terminated (malloc'd), or NULL with a violation on
 * field. */
static char *config_read_pem(const char *path, const char *field, bbb_status *st)
{
	FILE *f = fopen(path, "r");
	char *text = xmalloc(CONFIG_PEM_MAX + 1);
	size_t n = 0;
	int err;

	if (f == NULL) {
		status_violation(st, field, "cannot be used: %s: %s", path, strerror(errno));
		free(text);
		return NULL;
	}
	n = fread(text, 1, CONFIG_PEM_MAX + 1, f);
	err = ferror(f);
	fclose(f);
	if (err || n > CONFIG_PEM_MAX || memchr(text, '\0', n) != NULL) {
		status_violation(st, field, "cannot be used: %s: %s", path,
				 err                  ? "a read error"
				 : n > CONFIG_PEM_MAX ? "over 1 MiB"
						      : "not a text file");
		free(text);
		return NULL;
	}
	text[n] = '\0';
	if (strstr(text, "-----BEGIN ") == NULL) {
		status_violation(st, field, "cannot be used: %s: no PEM block (-----BEGIN ...)", path);
		free(text);
		return NULL;
	}
	return text;
}

int config_read_tls(const struct config *c, char **cert_pem, char **key_pem, bbb_status *st)
{
	*cert_pem = NULL;
	*key_pem = NULL;
	if (c->cf_tls_cert == NULL || c->cf_tls_key == NULL)
		return 0;
	if ((*cert_pem = config_read_pem(c->cf_tls_cert, "--tls-cert", st)) == NULL)
		return -1;
	if ((*key_pem = config_read_pem(c->cf_tls_key, "--tls-key", st)) == NULL) {
		free(*cert_pem);
		*cert_pem = NULL;
		return -1;
	}
	return 0;
}

int config_check_files(const struct config *c, bbb_status *st)
{
	struct pricing *p;
	bbb_status why;
	char *cert, *key;

	status_clear(st);
	status_clear(&why);
	if (config_check_claude_settings(c, st) != 0)
		return -1;
	if (config_read_tls(c, &cert, &key, st) != 0) {
		snprintf(st->message, sizeof(st->message), "invalid configuration: 1 setting(s)");
		return -1;
	}
	free(cert);
	free(key);
	if (c->cf_pricing_path == NULL)
		return 0;
	if ((p = pricing_load_file(c->cf_pricing_path, &why)) == NULL) {
		if (why.n_violations > 0)
			status_violation(st, "BEEBEEBRAIN_PRICING", "cannot be used: %s: %s", why.violations[0].field,
					 why.violations[0].description);
		else
			status_violation(st, "BEEBEEBRAIN_PRICING", "cannot be used: %s", why.message);
		snprintf(st->message, sizeof(st->message), "invalid configuration: 1 setting(s)");
		return -1;
	}
	pricing_free(p);
	return 0;
}

int config_db_path(char *const *envp, const char *flag_value, const char **out, bbb_status *st)
{
	const struct config_setting *s = NULL;
	struct config c;
	struct config_arg arg = {"--db", flag_value};

	for (size_t i = 0; i < CONFIG_N_SETTINGS && s == NULL; i++)
		if (config_settings[i].cs_off == F(cf_db_path))
			s = &config_settings[i];
	status_clear(st);
	config_defaults(&c);
	config_load_one(&c, s, envp, &arg, flag_value != NULL ? 1 : 0, st);
	*out = c.cf_db_path;
	return st->code == BBB_OK ? 0 : -1;
}

int config_is_known_variable(const char *name, size_t len)
{
	for (size_t i = 0; i < CONFIG_N_SETTINGS; i++)
		if (config_settings[i].cs_env != NULL && strlen(config_settings[i].cs_env) == len &&
		    strncmp(config_settings[i].cs_env, name, len) == 0)
			return 1;
	for (size_t i = 0; i < sizeof(config_client_variables) / sizeof(config_client_variables[0]); i++)
		if (strlen(config_client_variables[i]) == len && strncmp(config_client_variables[i], name, len) == 0)
			return 1;
	return 0;
}

/* ---- help */

/* The default of a setting as text, from a struct config at its defaults. */
static void config_default_text(const struct config *d, const struct config_setting *s, struct dbuf *b)
{
	const char *field = (const char *)d + s->cs_off;

	if (s->cs_default_text != NULL) {
		dbuf_addstr(b, s->cs_default_text);
		return;
	}
	switch (s->cs_kind) {
	case CK_INT:
		dbuf_printf(b, "%lld", (long long)*(const int64_t *)(const void *)field);
		break;
	case CK_WORD:
		dbuf_addstr(b, s->cs_words[*(const int *)(const void *)field]);
		break;
	case CK_LISTEN:
		dbuf_addstr(b, ((const char *const *)(const void *)field)[0]);
		break;
	case CK_SWITCH:
		dbuf_addstr(b, "off");
		break;
	default:
		dbuf_addstr(b, *(const char *const *)(const void *)field);
		break;
	}
}

char *config_help(void)
{
	struct config d;
	struct dbuf b;

	config_defaults(&d);
	dbuf_init(&b, 1 << 16);
	for (size_t i = 0; i < CONFIG_N_SETTINGS; i++) {
		const struct config_setting *s = &config_settings[i];
		char head[64];

		if (s->cs_flag == NULL)
			continue;
		snprintf(head, sizeof(head), "%s%s%s", s->cs_flag, s->cs_metavar ? " " : "",
			 s->cs_metavar ? s->cs_metavar : "");
		dbuf_printf(&b, "  %-18s%s%s", head, strlen(head) < 18 ? " " : "  ", s->cs_meaning);
		if (s->cs_kind != CK_SWITCH) {
			dbuf_addstr(&b, " (");
			if (s->cs_env != NULL)
				dbuf_printf(&b, "env %s; ", s->cs_env);
			if (s->cs_kind == CK_INT || s->cs_kind == CK_WORD) {
				config_accepted(s, &b);
				dbuf_addstr(&b, "; ");
			}
			dbuf_addstr(&b, "default ");
			config_default_text(&d, s, &b);
			dbuf_addstr(&b, ")");
		}
		dbuf_addstr(&b, "\n");
	}
	dbuf_addstr(&b, "Stops cleanly on SIGTERM or SIGINT.\n"
			"\n"
			"Environment, read once at start. A flag overrides its variable; an empty variable counts as\n"
			"unset. An invalid value (not a number, out of range, not one of the words) stops the server\n"
			"before it opens the database, with exit status 2 and the variable named.\n");
	for (size_t i = 0; i < CONFIG_N_SETTINGS; i++) {
		const struct config_setting *s = &config_settings[i];

		if (s->cs_env == NULL)
			continue;
		dbuf_printf(&b, "  %s (", s->cs_env);
		config_accepted(s, &b);
		dbuf_addstr(&b, "; default ");
		config_default_text(&d, s, &b);
		dbuf_printf(&b, ")\n      %s%s%s\n", s->cs_meaning, s->cs_flag != NULL ? "; overridden by " : "",
			    s->cs_flag != NULL ? s->cs_flag : "");
	}
	dbuf_addstr(&b, "The client commands read BEEBEEBRAIN_RPC_URL, BEEBEEBRAIN_EVENTS_URL and BEEBEEBRAIN_API_KEY\n"
			"(the key they send); see docs/configuration.md.");
	return dbuf_take(&b);
}
