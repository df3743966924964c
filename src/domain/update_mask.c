/* update_mask parsing (see update_mask.h). */
#include "domain/update_mask.h"

#include <string.h>

#include "common/status.h"

int update_mask_parse(bbb_status *st, char *const *mask, size_t n, const char *const *allowed, size_t n_allowed,
		      unsigned *bits)
{
	int bad = 0;

	*bits = 0;
	if (n == 0)
		return status_violation(st, "update_mask", "names no field: give at least one field to change");
	for (size_t i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < n_allowed && j < 32; j++)
			if (strcmp(mask[i], allowed[j]) == 0)
				break;
		if (j == n_allowed || j == 32) {
			bad = status_violation(st, "update_mask", "unknown field '%.60s'", mask[i]);
			continue;
		}
		if (*bits & (1u << j)) {
			bad = status_violation(st, "update_mask", "names '%s' twice", allowed[j]);
			continue;
		}
		*bits |= 1u << j;
	}
	return bad;
}
