/* Parsing of command-line values: sizes with suffixes, integers, key=value option lists. */
#ifndef MINIVMM_PARSE_H
#define MINIVMM_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* "512M", "2G", "4096", "64K", "1T": binary units, case-insensitive, optional trailing "iB"/"B".
 * Rejects empty strings, signs, garbage and overflow. */
int parse_size(const char *s, uint64_t *out);

/* Decimal unsigned integer within [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "on"/"off"/"true"/"false"/"1"/"0"/"yes"/"no". */
int parse_bool(const char *s, bool *out);

/* Iterates over "k1=v1,k2=v2,bare" in place: each call cuts the next item out of *cursor and
 * returns it split into key and value (value NULL for a bare item). Returns false at the end. */
bool parse_next_kv(char **cursor, char **key, char **value);

#endif
