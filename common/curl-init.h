/* curl-init.h - libcurl's process-wide initialisation, made once for every
 * module that speaks HTTP (the registry client, the Debian mirror check,
 * the fleet's health probes). */
#ifndef KILN_CURL_INIT_H
#define KILN_CURL_INIT_H

#include "common/err.h"

/* Initialises libcurl once per process (thread-safe); every later call
 * returns the first one's result.  Fails with "cannot initialise libcurl". */
int curl_init_once(struct kiln_err *err);

#endif
