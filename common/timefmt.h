/* timefmt.h - the one way kiln writes a time: RFC 3339 in UTC with
 * seconds, "2023-11-14T22:13:20Z" (what OCI's `created` and in-toto
 * timestamps expect).  No I/O, no locale, no time zone. */
#ifndef KILN_TIMEFMT_H
#define KILN_TIMEFMT_H

#include <stdint.h>

#define RFC3339_SIZE 32

/* t, in seconds since 1970-01-01T00:00:00Z, into out.  A time that
 * cannot be shown (beyond year 9999 or before year 0) gives the epoch. */
void rfc3339_format(int64_t t, char out[RFC3339_SIZE]);

#endif
