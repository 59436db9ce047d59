/* test-plan.c - recipe -> steps: order, guest detection, and the keys of what can change each step. */
#include <string.h>

#include "builder/plan.h"
#include "common/common.h"
#include "tap.h"
#include "common/banned.h"

static struct build_plan *plan_with(const char *yaml, const struct plan_opts *opts)
{
    struct recipe *r = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (recipe_parse(yaml, strlen(yaml), "test.yaml", "/tmp", &r, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    struct build_plan *p = NULL;
    ok(plan_make(r, opts, &p, &err) == 0, "plan: %s", err.msg);
    recipe_free(r);
    return p;
}

static struct build_plan *plan_of(const char *yaml)
{
    return plan_with(yaml, NULL);
}

/* Which steps of a and b (same shape) have different keys, as a string of
 * '=' and 'x', one per step. */
static const char *diff_keys(const struct build_plan *a, const struct build_plan *b)
{
    static char out[32];
    size_t i = 0;
    for (; i < a->n && i < b->n && i + 1 < sizeof(out); i++)
        out[i] = strcmp(a->steps[i].key, b->steps[i].key) == 0 ? '=' : 'x';
    out[i] = '\0';
    return a->n == b->n ? out : "different shapes";
}

static int all_keys_known(const struct build_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (strlen(p->steps[i].key) != HASH_HEX_LEN)
            return 0;
    return 1;
}

#define HEAD "name: t\nversion: 1.0.0\nbase:\n  scratch: true\n"

int main(void)
{
    tap_tmpdir();
    struct build_plan *p = plan_of(HEAD "outputs: [oci]\n");
    is_int(p->n, 2, "scratch + one output: two steps");
    ok(p->steps[0].kind == PLAN_BASE && p->steps[1].kind == PLAN_OUTPUT, "base, then output");
    ok(!p->needs_guest, "no guest needed");
    char h1[HASH_HEX_LEN + 1], plan_of_base_key[HASH_HEX_LEN + 1];
    memcpy(h1, p->key, sizeof(h1));
    memcpy(plan_of_base_key, p->steps[0].key, sizeof(plan_of_base_key));
    plan_free(p);

    p = plan_of(HEAD "outputs: [oci]\n");
    is_str(p->key, h1, "the same recipe plans to the same key");
    plan_free(p);

    p = plan_of(HEAD "outputs:\n  - oci:\n      compression: zstd\n");
    ok(strcmp(p->key, h1) != 0, "another compression changes the key");
    plan_free(p);

    p = plan_of(HEAD "outputs: [oci]\ndrift:\n  ignore: [/srv/cache/**]\n");
    ok(strcmp(p->key, h1) != 0, "drift.ignore changes the outputs' keys (it is in their annotations)");
    ok(strcmp(p->steps[0].key, plan_of_base_key) == 0, "but not the base's");
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
    char files_key[HASH_HEX_LEN + 1];
    memcpy(files_key, p->steps[1].key, sizeof(files_key));
    plan_free(p);

    p = plan_of(HEAD "hostname: h\nusers:\n  - name: app\nfiles:\n  - content: y\n    dest: /x\n    owner: app\n"
                     "container:\n  cmd: [/bin/sh]\noutputs: [oci, tar]\n");
    ok(strcmp(p->steps[1].key, files_key) != 0, "a file's content changes its step's key");
    plan_free(p);

    p = plan_of(HEAD "run:\n  - echo hi\noutputs: [oci]\n");
    ok(p->needs_guest, "run needs the guest");
    ok(p->n == 3 && p->steps[1].kind == PLAN_GUEST, "one guest step after the host steps");
    plan_free(p);

    p = plan_of(HEAD "packages: [curl]\noutputs: [oci]\n");
    ok(p->needs_guest, "packages need the guest");
    plan_free(p);

    /* Keys: same recipe, same keys; a change moves its own step's key and
     * every later one, never an earlier one. */
#define FULL(FILE, RUN) HEAD "hostname: h\nusers:\n  - name: app\nfiles:\n  - content: " FILE "\n    dest: /x\n" \
        "run:\n  - " RUN "\noutputs: [oci, tar]\n"
    struct build_plan *a = plan_of(FULL("one", "echo hi"));
    struct build_plan *b = plan_of(FULL("one", "echo hi"));
    ok(all_keys_known(a), "without host inputs every key is known when planning");
    is_str(diff_keys(a, b), "=======", "the same recipe gives the same keys");
    plan_free(b);
    b = plan_of(FULL("two", "echo hi"));
    is_str(diff_keys(a, b), "=xxxxxx", "changing a files entry changes that step's key and every later one");
    plan_free(b);
    b = plan_of(FULL("one", "echo bye"));
    ok(a->steps[4].kind == PLAN_GUEST, "the guest step follows the host steps");
    is_str(diff_keys(a, b), "====xxx", "changing run changes the guest step and the outputs only");
    plan_free(b);
    struct plan_opts zstd = { .has_compression = 1, .compression = COMPRESSION_ZSTD };
    b = plan_with(FULL("one", "echo hi"), &zstd);
    is_str(diff_keys(a, b), "=====x=", "--compression changes the oci output's key only");
    plan_free(b);
    struct plan_opts sde = { .has_source_date_epoch = 1, .source_date_epoch = 1700000000 };
    b = plan_with(FULL("one", "echo hi"), &sde);
    is_str(diff_keys(a, b), "xxxxxxx", "SOURCE_DATE_EPOCH changes every key");
    plan_free(b);
    b = plan_of(HEAD "hostname: h\nusers:\n  - name: app\nfiles:\n  - content: one\n    dest: /x\n"
                     "run:\n  - echo hi\noutputs:\n  - oci\n  - tar\nlabels:\n  a: b\n");
    is_str(diff_keys(a, b), "=====xx", "a label changes the outputs' keys only");
    plan_free(b);
    plan_free(a);

    /* Files marked after_run: a step of their own after the guest step, and
     * a disk step after them; a change to one of them leaves the guest
     * step's key (and so its cached tree) as it was. */
#define LATE(EARLY, FILE, RUN) HEAD "users:\n  - name: app\nfiles:\n  - content: " EARLY "\n    dest: /e\n" \
        "  - content: " FILE "\n    dest: /x\n    owner: app\n    after_run: true\n" \
        "run:\n  - " RUN "\noutputs: [oci, qcow2]\n"
    a = plan_of(LATE("e", "one", "echo hi"));
    static const enum plan_step_kind late[] = { PLAN_BASE, PLAN_FILES, PLAN_USERS, PLAN_GUEST, PLAN_FILES_LATE,
                                                PLAN_DISK, PLAN_OUTPUT, PLAN_OUTPUT };
    int shape = a->n == ARRAY_SIZE(late);
    for (size_t i = 0; shape && i < a->n; i++)
        shape = a->steps[i].kind == late[i];
    ok(shape, "base, files, users, guest, files-after-run, disk, outputs (no owners step: its owner goes with it)");
    b = plan_of(LATE("e", "two", "echo hi"));
    is_str(diff_keys(a, b), "====xxxx", "changing an after_run file reruns from its step on, not the guest step");
    plan_free(b);
    b = plan_of(LATE("f", "one", "echo hi"));
    is_str(diff_keys(a, b), "=xxxxxxx", "changing a file before the guest step reruns the guest step");
    plan_free(b);
    b = plan_of(LATE("e", "one", "echo bye"));
    is_str(diff_keys(a, b), "===xxxxx", "changing run reruns the guest step and what follows");
    plan_free(b);
    plan_free(a);
    a = plan_of(HEAD "files:\n  - content: x\n    dest: /x\n    after_run: true\noutputs: [oci]\n");
    ok(a->n == 3 && a->steps[1].kind == PLAN_FILES_LATE && !a->needs_guest,
       "after_run without a guest step: the files come after the host steps");
    plan_free(a);

    /* Host inputs: the key of a step that reads host content waits for the
     * digests of what it read; the same digests give the same key. */
    static const char *d1[] = { "1111111111111111111111111111111111111111111111111111111111111111" };
    static const char *d2[] = { "2222222222222222222222222222222222222222222222222222222222222222" };
    struct kiln_err err = KILN_ERR_INIT;
#define SRC(S) "name: t\nversion: 1.0.0\nbase:\n  tarball: {path: /tmp/base.tar}\nfiles:\n  - src: " S "\n    dest: /x\n" \
        "outputs: [oci]\n"
    a = plan_of(SRC("/tmp/a"));
    b = plan_of(SRC("/tmp/a"));
    ok(a->steps[0].has_inputs && a->steps[1].has_inputs && !a->steps[2].has_inputs,
       "a tarball base and a files step with src read host content");
    ok(!a->steps[0].key[0] && !a->steps[2].key[0] && !a->key[0], "their keys wait for the run");
    is_int(plan_complete_step(a, 1, d1, 1, &err), KILN_EFAIL, "a step cannot be completed before the one before it");
    is_int(plan_complete_step(a, 0, d1, 1, &err), 0, "the base completes with its tarball's digest");
    ok(a->steps[0].key[0] && !a->steps[1].key[0], "then the base's key is known, the files' still waits");
    is_int(plan_complete_step(a, 1, d1, 1, &err), 0, "the files step completes with its src's digest");
    ok(all_keys_known(a) && strlen(a->key) == HASH_HEX_LEN, "then every key and the plan's are known");
    plan_complete_step(b, 0, d1, 1, &err);
    plan_complete_step(b, 1, d1, 1, &err);
    is_str(diff_keys(a, b), "===", "the same inputs give the same keys");
    plan_complete_step(b, 1, d2, 1, &err);
    is_str(diff_keys(a, b), "=xx", "another src content changes the files step's key and the output's");
    plan_complete_step(b, 0, d2, 1, &err);
    plan_complete_step(b, 1, d1, 1, &err);
    is_str(diff_keys(a, b), "xxx", "another base tarball changes every key");
    plan_free(b);
    b = plan_of(SRC("/tmp/b"));
    plan_complete_step(b, 0, d1, 1, &err);
    plan_complete_step(b, 1, d1, 1, &err);
    is_str(diff_keys(a, b), "=xx", "another src path changes the files step's key even with the same bytes");
    plan_free(b);
    plan_free(a);
    return tap_done();
}
