/*
 * Whole pages for the list commands.
 *
 * The server stops a page early when its rows are big (a reply is capped at
 * about 4 MiB) and says where to go on: a next_page_token, or Replay's
 * `more`. A command that asked for N rows still prints N: it calls again from
 * where the reply stopped, asking for the rest, and moves the rows of each
 * later reply into the first one. The first reply then looks like the page the
 * user asked for, and carries the last reply's continuation, so printing
 * (table or -o json) needs no change.
 *
 * Works on any List method through the protobuf-c descriptors: the request's
 * `limit` and `page_token`, the reply's one repeated message field (its rows)
 * and `next_page_token`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/xalloc.h"

/* The rows of a list reply: its repeated message field. */
static const ProtobufCFieldDescriptor *cli_rows_field(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REPEATED && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			return &d->fields[i];
	return NULL;
}

static size_t *cli_rows_count(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (size_t *)(void *)((char *)m + f->quantifier_offset);
}

static ProtobufCMessage ***cli_rows(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (ProtobufCMessage ***)(void *)((char *)m + f->offset);
}

static char **cli_string_field(ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return (char **)(void *)((char *)m + f->offset);
}

size_t cli_rows_n(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f = cli_rows_field(m->descriptor);

	return f != NULL ? *cli_rows_count((ProtobufCMessage *)m, f) : 0;
}

void cli_take_rows(ProtobufCMessage *into, ProtobufCMessage *from)
{
	const ProtobufCFieldDescriptor *f = cli_rows_field(into->descriptor);
	size_t *n_into, *n_from;
	ProtobufCMessage ***rows_into;

	if (f == NULL || from->descriptor != into->descriptor)
		return;
	n_into = cli_rows_count(into, f);
	n_from = cli_rows_count(from, f);
	if (*n_from == 0)
		return;
	rows_into = cli_rows(into, f);
	/* Replies are unpacked with protobuf-c's default allocator (malloc), so
	 * the array can grow with realloc and be freed by bbb_free. */
	*rows_into = xrealloc(*rows_into, (*n_into + *n_from) * sizeof(**rows_into));
	memcpy(*rows_into + *n_into, *cli_rows(from, f), *n_from * sizeof(**rows_into));
	*n_into += *n_from;
	*n_from = 0; /* `from` no longer owns them */
}

int cli_list_pages(bbb_client *c, const ProtobufCServiceDescriptor *svc, const char *method, ProtobufCMessage *req,
		   int32_t dflt, ProtobufCMessage **resp, bbb_status *st)
{
	const ProtobufCFieldDescriptor *lf = protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "limit");
	int32_t *limit =
		lf != NULL && lf->type == PROTOBUF_C_TYPE_INT32 ? (int32_t *)(void *)((char *)req + lf->offset) : NULL;
	char **token = cli_string_field(req, "page_token");
	int32_t limit0 = limit != NULL ? *limit : 0;
	char *token0 = token != NULL ? *token : NULL;
	size_t want = (size_t)(limit0 > 0 ? limit0 : dflt), got;
	int rc = 0;

	*resp = NULL;
	if (bbb_call(c, svc, method, req, resp, st) != 0)
		return -1;
	got = cli_rows_n(*resp);
	while (limit != NULL && token != NULL && got < want) {
		char **next = cli_string_field(*resp, "next_page_token");
		ProtobufCMessage *page = NULL;
		char *from;
		size_t n;

		if (next == NULL || *next == NULL || (*next)[0] == '\0')
			break;
		from = xstrdup(*next);
		*limit = (int32_t)(want - got);
		*token = from;
		rc = bbb_call(c, svc, method, req, &page, st);
		free(from);
		if (rc != 0) {
			bbb_free(*resp);
			*resp = NULL;
			break;
		}
		n = cli_rows_n(page);
		cli_take_rows(*resp, page);
		/* The first reply takes this page's token (the old one goes with page). */
		char **page_next = cli_string_field(page, "next_page_token"), *swap = *next;
		*next = *page_next;
		*page_next = swap;
		bbb_free(page);
		got += n;
		if (n == 0)
			break; /* a page that says more but holds nothing: do not loop */
	}
	if (limit != NULL)
		*limit = limit0;
	if (token != NULL)
		*token = token0;
	return rc;
}
