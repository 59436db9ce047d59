/* replay.c - runs a fuzz target over its corpus without libFuzzer, so the
 * corpus is a regression test in every build (TAP output). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static void run_file(const char *path)
{
    struct buf b;
    buf_init(&b, 0);
    if (fs_read_file(path, 1 << 20, &b, NULL) == 0) {
        LLVMFuzzerTestOneInput((const uint8_t *)b.data, b.len);
        printf("ok %d - %s\n", ++n, path);
    }
    buf_release(&b);
}

int main(int argc, char **argv)
{
    const char *src = getenv("KILN_SRC");
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    /* fuzz-recipe-replay -> tests/fuzz/corpus/recipe */
    char target[128];
    snprintf(target, sizeof(target), "%s", name + (strncmp(name, "fuzz-", 5) == 0 ? 5 : 0));
    char *dash = strstr(target, "-replay");
    if (dash)
        *dash = '\0';
    char dir[4096];
    if (argc > 1)
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    else
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src ? src : ".", target);
    DIR *d = opendir(dir);
    if (!d) {
        printf("Bail out! no corpus at %s\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        run_file(path);
    }
    closedir(d);
    printf("1..%d\n", n);
    return n ? 0 : 1;
}
