/* fuzz-sbom.c - hostile dpkg databases through sbom/: the input is split at
 * its first NUL into a status file and an os-release, each put into a tree
 * with a copyright file and a file list made of the same bytes, then both
 * documents are made.  Must never crash, hang or leak, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "sbom/sbom.h"
#include "tree/tree.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *scratch;

static void cleanup(void)
{
    if (scratch)
        rmdir(scratch);
}

static void put(struct tree *t, const char *path, const void *data, size_t len)
{
    struct tree_new_entry ne = { .path = path, .type = TREE_FILE, .mode = 0644 };
    struct tree_entry *e = NULL;
    if (tree_add(t, "fuzz", &ne, &e, NULL) == 0)
        tree_set_inline(t, e, data, len, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch) {
        const char *tmp = getenv("TMPDIR");
        if (fs_mkdtemp(tmp && *tmp ? tmp : "/tmp", "kiln-fuzz-sbom-", &scratch, NULL) < 0)
            abort();
        atexit(cleanup);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t a = nul ? (size_t)(nul - data) : size;
    const uint8_t *rest = nul ? nul + 1 : data + size;
    size_t b = nul ? size - a - 1 : 0;
    struct tree *t = NULL;
    if (tree_new(scratch, NULL, &t, NULL) < 0)
        return 0;
    put(t, "/var/lib/dpkg/status", data, a);
    put(t, "/etc/os-release", rest, b);
    put(t, "/var/lib/dpkg/info/a.list", rest, b);
    put(t, "/var/lib/dpkg/diversions", data, a);
    put(t, "/usr/share/doc/a1/copyright", rest, b);
    struct sbom *s = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (sbom_read(t, &s, &err) == 0) {
        struct sbom_doc_opts o = { "fuzz", "1.0.0", 0 };
        json_decref(sbom_spdx(s, &o));
        json_decref(sbom_cyclonedx(s, &o));
        sbom_free(s);
    }
    tree_free(t);
    return 0;
}
