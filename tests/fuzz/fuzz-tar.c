/* fuzz-tar.c - hostile archives through the tree: read as an OCI layer
 * (whiteouts on, devices allowed, small limits), then written out and
 * listed.  Must never crash, hang or leak, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tree/tree.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *scratch;

static void cleanup(void)
{
    if (scratch)
        rmdir(scratch);
}

static int null_sink(void *ud, const void *d, size_t len, struct kiln_err *err)
{
    (void)ud, (void)d, (void)len, (void)err;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch) {
        const char *tmp = getenv("TMPDIR");
        if (fs_mkdtemp(tmp && *tmp ? tmp : "/tmp", "kiln-fuzz-tar-", &scratch, NULL) < 0)
            abort();
        atexit(cleanup);
    }
    int fd = memfd_create("fuzz-tar", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    struct tree_limits lim = { .max_bytes = 8u << 20, .max_entries = 10000, .allow_devices = 1 };
    struct tree *t = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (tree_new(scratch, &lim, &t, &err) == 0) {
        char hex[HASH_HEX_LEN + 1];
        uint64_t n = 0;
        struct tree_read_opts o = { .whiteouts = 1, .sha256_out = hex, .size_out = &n };
        tree_begin_layer(t, 1);
        if (tree_read_tar(t, "fuzz", fd, &o, &err) == 0) {
            tree_write_tar(t, null_sink, NULL, &err);
            json_decref(tree_file_manifest(t));
        }
        tree_free(t);
    }
    close(fd);
    return 0;
}
