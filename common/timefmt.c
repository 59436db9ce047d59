/* timefmt.c - RFC 3339 timestamps. */
#include "common/timefmt.h"

#include <stdio.h>
#include <time.h>

#include "common/banned.h"

void rfc3339_format(int64_t t, char out[RFC3339_SIZE])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t < -62167219200ll || t > 253402300799ll || !gmtime_r(&tt, &tm) ||
        strftime(out, RFC3339_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, RFC3339_SIZE, "1970-01-01T00:00:00Z");
}
