/* test-fleet.c - the fleet's wave logic, metadata and lock on libvirt's test driver
 * (test:///default: domains, metadata and pools in memory, no guests). */
#include <string.h>

#include "fleet/fleet.h"
#include "tap.h"

static struct fleet_image image(const char *version, const char *digest)
{
    struct fleet_image img = { "app", version, digest, "sha256:key", "disk.raw", "raw", "sha256:disk" };
    return img;
}

static size_t count(struct fleet *f, const char *group, const char *version, enum fleet_state st)
{
    struct fleet_host *hs = NULL;
    size_t n = 0, k = 0;
    struct kiln_err err = KILN_ERR_INIT;
    if (fleet_list(f, group, &hs, &n, &err) < 0)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++)
        k += hs[i].state == st && (!version || strcmp(hs[i].image_version, version) == 0);
    fleet_hosts_free(hs, n);
    return k;
}

/* "host event" lines of a report, joined with ',' */
static char *events(json_t *rep)
{
    size_t i;
    json_t *e;
    char *s = xstrdup("");
    json_array_foreach(rep, i, e) {
        if (!json_object_get(e, "host"))
            continue;
        char *t = xasprintf("%s%s %s,", s, json_string_value(json_object_get(e, "host")),
                            json_string_value(json_object_get(e, "event")));
        free(s);
        s = t;
    }
    return s;
}

int main(void)
{
    tap_tmpdir();
    struct kiln_err err = KILN_ERR_INIT;
    FILE *fp = fopen("disk.raw", "w");
    fputs("x", fp);
    fclose(fp);

    ok(fleet_group_check("web-1", &err) == 0, "a group name of a-z, 0-9 and '-' is accepted");
    ok(fleet_group_check("Web", &err) == KILN_EINVAL, "a group name with capitals is refused");
    ok(fleet_group_check("-x", &err) == KILN_EINVAL, "a group name starting with '-' is refused");
    ok(fleet_group_check("a/b", &err) == KILN_EINVAL, "a group name with '/' is refused");

    struct fleet *f = NULL;
    if (fleet_open("test:///default", &f, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    struct fleet_spec s = { .group = "web", .pool = "default-pool", .domain_type = "qemu", .timeout = 5 };

    ok(fleet_lock(f, "web", "rollout", &err) == 0, "the group lock is taken");
    ok(fleet_lock(f, "web", "rollout", &err) == KILN_EEXIST, "a second lock of the group is refused");
    has_str(err.msg, "group 'web' on 'test:///default' is locked by 'rollout' (pid", "naming the holder: %s", err.msg);
    ok(fleet_lock(f, "db", "deploy", &err) == 0, "another group's lock is independent");
    ok(fleet_unlock(f, "web", &err) == 0 && fleet_lock(f, "web", "deploy", &err) == 0,
       "a dropped lock can be taken again");
    fleet_unlock(f, "web", &err);
    fleet_unlock(f, "db", &err);

    struct fleet_image a = image("1.0.0", "sha256:aaaa"), b = image("2.0.0", "sha256:bbbb"),
                       c = image("3.0.0", "sha256:cccc");
    json_t *rep = json_array();
    ok(fleet_deploy(f, &a, &s, 3, rep, &err) == 0, "deploy of 3 hosts: %s", err.msg);
    is_int(count(f, "web", "1.0.0", FLEET_ACTIVE), 3, "3 active hosts");
    char *ev = events(rep);
    is_str(ev, "web-1 created,web-2 created,web-3 created,web-1 healthy,web-2 healthy,web-3 healthy,",
           "all are made, then all are checked");
    free(ev);
    json_decref(rep);

    struct fleet_host h;
    ok(fleet_host_get(f, "web-2", &h, &err) == 0, "a host is read back");
    is_str(h.group, "web", "its group");
    is_str(h.image_digest, "sha256:aaaa", "its image digest");
    is_str(h.key_id, "sha256:key", "the key that verified it");
    is_int(h.generation, 1, "generation 1");
    ok(h.deployed && strlen(h.deployed) == 20, "its deploy time");
    ok(h.disks && h.disks[0] && strstr(h.disks[0], "web-2.qcow2"), "its disk");
    fleet_host_release(&h);
    ok(fleet_host_get(f, "test", &h, &err) == KILN_EINVAL, "a domain without kiln metadata is not a host");
    has_str(err.msg, "not a kiln host", "said so: %s", err.msg);
    ok(fleet_host_get(f, "nosuch", &h, &err) == KILN_ENOTFOUND, "a missing host is not found");

    rep = json_array();
    ok(fleet_deploy(f, &b, &s, 1, rep, &err) == KILN_EINVAL, "deploy of another image into the group is refused");
    has_str(err.msg, "runs app:1.0.0", "naming what it runs: %s", err.msg);
    json_decref(rep);

    struct fleet_rollout_opts o = { 1, 0, 0, 2, 0 };
    rep = json_array();
    ok(fleet_rollout(f, &b, &s, &o, rep, &err) == 0, "rollout with max-surge 1: %s", err.msg);
    ev = events(rep);
    is_str(ev,
           "web-4 created,web-4 healthy,web-1 retired,web-5 created,web-5 healthy,web-2 retired,"
           "web-6 created,web-6 healthy,web-3 retired,",
           "one new host up before each old one stops");
    free(ev);
    json_decref(rep);
    is_int(count(f, "web", "2.0.0", FLEET_ACTIVE), 3, "3 active hosts of the new image");
    is_int(count(f, "web", "1.0.0", FLEET_RETIRED), 3, "the old ones retired, kept");

    rep = json_array();
    ok(fleet_rollout(f, &b, &s, &o, rep, &err) == 0, "the same rollout again");
    ev = events(rep);
    is_str(ev, "", "changes nothing");
    free(ev);
    json_decref(rep);

    char *pn = NULL, *pv = NULL, *pd = NULL;
    ok(fleet_previous_image(f, "web", &pn, &pv, &pd, &err) == 0, "the previous image is found");
    is_str(pv, "1.0.0", "it is the one retired");
    free(pn), free(pv), free(pd);

    /* max-unavailable 1 + max-surge 2: one wave of three, one old host stops first */
    struct fleet_rollout_opts o2 = { 2, 1, 0, 1, 0 };
    rep = json_array();
    ok(fleet_rollout(f, &c, &s, &o2, rep, &err) == 0, "rollout with max-surge 2, max-unavailable 1: %s", err.msg);
    ev = events(rep);
    has_str(ev, "web-4 retired,web-7 created,web-8 created,web-9 created,web-7 healthy,web-8 healthy,web-9 healthy,"
            "web-5 retired,web-6 retired,", "one wave: unavailable hosts stop first, the surge after");
    has_str(ev, "web-1 pruned,web-2 pruned,web-3 pruned,", "keep 1: the oldest retired generation is pruned");
    free(ev);
    json_decref(rep);
    is_int(count(f, "web", NULL, FLEET_RETIRED), 3, "one retired generation is kept");
    ok(fleet_host_get(f, "web-1", &h, &err) == KILN_ENOTFOUND, "a pruned host's domain is gone");

    s.group = "empty";
    rep = json_array();
    ok(fleet_rollout(f, &c, &s, &o, rep, &err) == KILN_EINVAL, "rollout of a group without hosts is refused");
    has_str(err.msg, "has no active hosts", "said so: %s", err.msg);
    json_decref(rep);

    fleet_close(f);
    return tap_done();
}
