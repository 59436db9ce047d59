/* test-plan.c - recipe -> steps: order, guest detection, content hashes. */
#include <string.h>

#include "builder/plan.h"
#include "common/common.h"
#include "tap.h"
#include "common/banned.h"

static struct build_plan *plan_of(const char *yaml)
{
    struct recipe *r = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (recipe_parse(yaml, strlen(yaml), "test.yaml", "/tmp", &r, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    struct build_plan *p = NULL;
    ok(plan_make(r, &p, &err) == 0, "plan: %s", err.msg);
    recipe_free(r);
    return p;
}

#define HEAD "name: t\nversion: 1.0.0\nbase:\n  scratch: true\n"

int main(void)
{
    tap_tmpdir();
    struct build_plan *p = plan_of(HEAD "outputs: [oci]\n");
    is_int(p->n, 2, "scratch + one output: two steps");
    ok(p->steps[0].kind == PLAN_BASE && p->steps[1].kind == PLAN_OUTPUT, "base, then output");
    ok(!p->needs_guest, "no guest needed");
    char h1[HASH_HEX_LEN + 1];
    memcpy(h1, p->hash, sizeof(h1));
    plan_free(p);

    p = plan_of(HEAD "outputs: [oci]\n");
    is_str(p->hash, h1, "the same recipe plans to the same hash");
    plan_free(p);

    p = plan_of(HEAD "outputs:\n  - oci:\n      compression: zstd\n");
    ok(strcmp(p->hash, h1) != 0, "another compression changes the hash");
    plan_free(p);

    p = plan_of(HEAD "hostname: h\nusers:\n  - name: app\nfiles:\n  - content: x\n    dest: /x\n    owner: app\n"
                     "container:\n  cmd: [/bin/sh]\noutputs: [oci, tar]\n");
    static const enum plan_step_kind want[] = { PLAN_BASE, PLAN_FILES, PLAN_USERS, PLAN_HOSTNAME, PLAN_OWNERS,
                                                PLAN_OUTPUT, PLAN_OUTPUT };
    is_int(p->n, ARRAY_SIZE(want), "every host step and both outputs");
    int order = p->n == ARRAY_SIZE(want);
    for (size_t i = 0; order && i < p->n; i++)
        order = p->steps[i].kind == want[i];
    ok(order, "base, files, users, hostname, owners, outputs");
    ok(p->steps[6].index == 1, "the second output step points at the second output");
    char files_hash[HASH_HEX_LEN + 1];
    memcpy(files_hash, p->steps[1].hash, sizeof(files_hash));
    plan_free(p);

    p = plan_of(HEAD "hostname: h\nusers:\n  - name: app\nfiles:\n  - content: y\n    dest: /x\n    owner: app\n"
                     "container:\n  cmd: [/bin/sh]\noutputs: [oci, tar]\n");
    ok(strcmp(p->steps[1].hash, files_hash) != 0, "a file's content changes its step's hash");
    plan_free(p);

    p = plan_of(HEAD "run:\n  - echo hi\noutputs: [oci]\n");
    ok(p->needs_guest, "run needs the guest");
    ok(p->n == 3 && p->steps[1].kind == PLAN_GUEST, "one guest step after the host steps");
    plan_free(p);

    p = plan_of(HEAD "packages: [curl]\noutputs: [oci]\n");
    ok(p->needs_guest, "packages need the guest");
    plan_free(p);
    return tap_done();
}
