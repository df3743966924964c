/*
 * The price table: pricing.json read with jansson into a sorted array of
 * integer prices; lookups are a binary search. Contract in pricing.h.
 */
#include "runtime/pricing.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/xalloc.h"

#define PRICING_MICROS 1000000LL
/* A price above this (USD 1,000,000 per million tokens) is a typo. */
#define PRICING_MAX_USD 1e6

struct pricing_entry {
	char *pe_model;
	struct pricing_price pe_price;
};

struct pricing {
	struct pricing_entry *p_entries; /* sorted by pe_model */
	int p_n;
};

static int pricing_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pricing_entry *)a)->pe_model, ((const struct pricing_entry *)b)->pe_model);
}

void pricing_free(struct pricing *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->p_n; i++)
		free(p->p_entries[i].pe_model);
	free(p->p_entries);
	free(p);
}

/* USD per million tokens -> micro-dollars per million tokens. An optional
 * price that is absent gets dflt; one that is present must be valid. */
static int pricing_read_price(const json_t *entry, const char *key, const int64_t *dflt, int64_t *out)
{
	const json_t *v = json_object_get(entry, key);
	double usd;

	if (v == NULL && dflt != NULL) {
		*out = *dflt;
		return 0;
	}
	if (!json_is_number(v))
		return -1;
	usd = json_number_value(v);
	if (!(usd >= 0 && usd <= PRICING_MAX_USD))
		return -1;
	*out = llround(usd * (double)PRICING_MICROS);
	return 0;
}

static struct pricing *pricing_from_json(const json_t *root, const char *origin, bbb_status *st)
{
	const json_t *models = json_object_get(root, "models");
	struct pricing *p;
	const char *name;
	json_t *entry;

	if (!json_is_object(models)) {
		status_fail(st, "VALIDATION_ERROR", "%s: no \"models\" object", origin);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->p_entries = xcalloc(json_object_size(models) + 1, sizeof(*p->p_entries));
	json_object_foreach((json_t *)models, name, entry)
	{
		struct pricing_entry *e = &p->p_entries[p->p_n];
		struct pricing_price *pr = &e->pe_price;

		if (pricing_read_price(entry, "input", NULL, &pr->pp_in_micros_per_mtok) != 0 ||
		    pricing_read_price(entry, "output", NULL, &pr->pp_out_micros_per_mtok) != 0 ||
		    pricing_read_price(entry, "cache_read", &pr->pp_in_micros_per_mtok,
				       &pr->pp_cache_read_micros_per_mtok) != 0 ||
		    pricing_read_price(entry, "cache_write", &pr->pp_in_micros_per_mtok,
				       &pr->pp_cache_write_micros_per_mtok) != 0) {
			status_fail(
				st, "VALIDATION_ERROR",
				"%s: model \"%s\" needs numeric \"input\" and \"output\" prices, and numeric "
				"\"cache_read\" and \"cache_write\" prices when given (USD per million tokens, >= 0)",
				origin, name);
			goto fail;
		}
		e->pe_model = xstrdup(name);
		p->p_n++;
	}
	qsort(p->p_entries, (size_t)p->p_n, sizeof(*p->p_entries), pricing_entry_cmp);
	return p;
fail:
	pricing_free(p);
	return NULL;
}

struct pricing *pricing_load_string(const char *json, bbb_status *st)
{
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	struct pricing *p;

	if (root == NULL) {
		status_fail(st, "VALIDATION_ERROR", "price table: %s (line %d)", jerr.text, jerr.line);
		return NULL;
	}
	p = pricing_from_json(root, "price table", st);
	json_decref(root);
	return p;
}

struct pricing *pricing_load_file(const char *path, bbb_status *st)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	struct pricing *p;

	if (root == NULL) {
		status_fail(st, "VALIDATION_ERROR", "%s: %s (line %d)", path, jerr.text, jerr.line);
		return NULL;
	}
	p = pricing_from_json(root, path, st);
	json_decref(root);
	return p;
}

int pricing_count(const struct pricing *p)
{
	return p != NULL ? p->p_n : 0;
}

static const struct pricing_entry *pricing_find(const struct pricing *p, const char *model)
{
	struct pricing_entry key = {.pe_model = (char *)model};

	if (p == NULL || p->p_n == 0)
		return NULL;
	return bsearch(&key, p->p_entries, (size_t)p->p_n, sizeof(*p->p_entries), pricing_entry_cmp);
}

static int pricing_all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Length of model without a "-YYYYMMDD", "-YYYY-MM-DD" or "-latest" suffix;
 * the full length when there is none. */
static size_t pricing_base_len(const char *model)
{
	size_t n = strlen(model);

	if (n > 9 && model[n - 9] == '-' && pricing_all_digits(model + n - 8, 8))
		return n - 9;
	if (n > 11 && model[n - 11] == '-' && pricing_all_digits(model + n - 10, 4) && model[n - 6] == '-' &&
	    pricing_all_digits(model + n - 5, 2) && model[n - 3] == '-' && pricing_all_digits(model + n - 2, 2))
		return n - 11;
	if (n > 7 && strcmp(model + n - 7, "-latest") == 0)
		return n - 7;
	return n;
}

int pricing_lookup(const struct pricing *p, const char *provider, const char *model, struct pricing_price *out)
{
	const struct pricing_entry *e;
	char base[256];
	size_t n;

	memset(out, 0, sizeof(*out));
	if (provider != NULL && strcmp(provider, "echo") == 0)
		return 1;
	if (model == NULL)
		return 0;
	e = pricing_find(p, model);
	n = pricing_base_len(model);
	if (e == NULL && n < strlen(model) && n < sizeof(base)) {
		memcpy(base, model, n);
		base[n] = '\0';
		e = pricing_find(p, base);
	}
	if (e == NULL)
		return 0;
	*out = e->pe_price;
	return 1;
}

/* n tokens at price, added to *sum; 0, or -1 when it does not fit. */
static int pricing_add_tokens(int64_t *sum, int64_t n, int64_t price)
{
	int64_t part;

	return __builtin_mul_overflow(n, price, &part) || __builtin_add_overflow(*sum, part, sum) ? -1 : 0;
}

int64_t pricing_cost_micros(const struct pricing_price *price, const struct pricing_usage *u)
{
	int64_t in = u->pu_in > 0 ? u->pu_in : 0;
	int64_t out = u->pu_out > 0 ? u->pu_out : 0;
	int64_t read = u->pu_cache_read > 0 ? u->pu_cache_read : 0;
	int64_t write = u->pu_cache_write > 0 ? u->pu_cache_write : 0;
	int64_t sum = PRICING_MICROS / 2; /* rounds half up in the division below */

	/* Cache counts are part of in: never more than it, together. */
	if (read > in)
		read = in;
	if (write > in - read)
		write = in - read;
	if (pricing_add_tokens(&sum, in - read - write, price->pp_in_micros_per_mtok) != 0 ||
	    pricing_add_tokens(&sum, read, price->pp_cache_read_micros_per_mtok) != 0 ||
	    pricing_add_tokens(&sum, write, price->pp_cache_write_micros_per_mtok) != 0 ||
	    pricing_add_tokens(&sum, out, price->pp_out_micros_per_mtok) != 0)
		return INT64_MAX;
	return sum / PRICING_MICROS;
}

void pricing_cost(const struct pricing *p, const char *provider, const char *model, const struct pricing_usage *u,
		  struct pricing_cost *out)
{
	memset(out, 0, sizeof(*out));
	out->pc_unknown_model = !pricing_lookup(p, provider, model, &out->pc_price);
	out->pc_usd_micros = pricing_cost_micros(&out->pc_price, u);
}
