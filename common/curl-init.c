/* curl-init.c - libcurl's process-wide initialisation, once. */
#include "common/curl-init.h"

#include <curl/curl.h>
#include <pthread.h>

#include "common/banned.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void init(void)
{
    init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int curl_init_once(struct kiln_err *err)
{
    pthread_once(&once, init);
    if (init_rc != CURLE_OK)
        return kiln_errf(err, KILN_EFAIL, "cannot initialise libcurl: %s", curl_easy_strerror(init_rc));
    return 0;
}
