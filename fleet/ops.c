/* ops.c - deploy, rollout in waves, replace, the previous image of a group. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet/fleet-internal.h"
#include "common/timefmt.h"
#include "common/banned.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(json_t *rep, const struct fleet_host *h, const char *event, double secs, const char *error)
{
    kiln_log(KILN_LOG_INFO, "host %s (%s:%s, generation %u): %s%s%s", h->name, h->image_name ? h->image_name : "?",
             h->image_version ? h->image_version : "?", h->generation, event, error ? ": " : "", error ? error : "");
    if (!rep)
        return;
    json_t *e = json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:i}", "host", h->name, "event", event, "image", h->image_name,
                          "version", h->image_version, "digest", h->image_digest, "generation", (int)h->generation);
    if (secs >= 0)
        json_object_set_new(e, "seconds", json_real((double)(long long)(secs * 10) / 10));
    if (error)
        json_object_set_new(e, "error", json_string(error));
    json_array_append_new(rep, e);
}

/* The first free "<group>-N" after every N the group's domains use. */
static char *next_name(struct fleet *f, const struct fleet_host *hs, size_t n, const char *group, unsigned *next)
{
    size_t gl = strlen(group);
    for (size_t i = 0; i < n; i++) {
        const char *nm = hs[i].name;
        if (strncmp(nm, group, gl) == 0 && nm[gl] == '-') {
            unsigned long v = strtoul(nm + gl + 1, NULL, 10);
            if (v >= *next)
                *next = (unsigned)v + 1;
        }
    }
    if (*next == 0)
        *next = 1;
    for (;; (*next)++) {
        char *name = xasprintf("%s-%u", group, *next);
        virDomainPtr d = virDomainLookupByName(f->conn, name);
        if (!d) {
            (*next)++;
            return name;
        }
        virDomainFree(d);
        free(name);
    }
}

static void new_host(struct fleet_host *h, char *name, const struct fleet *f, const struct fleet_image *img,
                     const struct fleet_spec *s, unsigned gen, const char *replaces)
{
    char now[RFC3339_SIZE];
    rfc3339_format((int64_t)time(NULL), now);
    memset(h, 0, sizeof(*h));
    h->name = name;
    h->uri = xstrdup(f->uri);
    h->group = xstrdup(s->group);
    h->image_name = xstrdup(img->name);
    h->image_version = xstrdup(img->version);
    h->image_digest = xstrdup(img->digest);
    h->disk_digest = xstrdup(img->disk_digest);
    h->key_id = xstrdup(img->key_id);
    h->deployed = xstrdup(now);
    h->replaces = replaces ? xstrdup(replaces) : NULL;
    h->generation = gen;
    h->state = FLEET_PENDING;
}

/* Waits for each host of hs (all started about now) until it is healthy:
 * healthy ones become active, the others are stopped and kept as failed.
 * ok[i] says which.  <0 only when libvirt fails (a lost connection). */
static int await_hosts(struct fleet *f, const struct fleet_spec *s, struct fleet_host *hs, size_t n, int *ok,
                       json_t *rep, double *waited, char **first_why, struct kiln_err *err)
{
    double t0 = mono();
    time_t deadline = time(NULL) + (time_t)s->timeout;
    for (size_t i = 0; i < n; i++) {
        char *why = NULL;
        int r = fleet_host_wait(f, hs[i].name, s, deadline, &why, err);
        if (r < 0 && err->code == KILN_ENOTFOUND) {
            why = xasprintf("it was deleted while it was checked");
            r = 0;
            ok[i] = 0;
            report(rep, &hs[i], "unhealthy", mono() - t0, why);
        } else if (r < 0) {
            return r;
        } else if (r == 1) {
            ok[i] = 1;
            if ((r = fleet_host_set_state(f, &hs[i], FLEET_ACTIVE, 0, s, err)) < 0)
                return r;
            report(rep, &hs[i], "healthy", mono() - t0, NULL);
        } else {
            ok[i] = 0;
            report(rep, &hs[i], "unhealthy", mono() - t0, why);
            if ((r = fleet_host_set_state(f, &hs[i], FLEET_FAILED, 1, s, err)) < 0 && err->code != KILN_ENOTFOUND) {
                free(why);
                return r;
            }
        }
        if (!ok[i] && first_why && !*first_why)
            *first_why = xasprintf("host '%s' did not become healthy: %s", hs[i].name, why);
        free(why);
    }
    if (waited)
        *waited += mono() - t0;
    return 0;
}

/* Creates n hosts of img (hs[i] replacing replaces[i] when given); *made
 * gets how many exist.  Stops at the first that cannot be made. */
static int create_hosts(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s, unsigned gen,
                        const struct fleet_host *all, size_t n_all, struct fleet_host *hs, size_t n,
                        char *const *replaces, size_t *made, json_t *rep, struct kiln_err *err)
{
    unsigned next = 0;
    *made = 0;
    for (size_t i = 0; i < n; i++) {
        new_host(&hs[i], next_name(f, all, n_all, s->group, &next), f, img, s, gen, replaces ? replaces[i] : NULL);
        int r = fleet_host_create(f, img, s, &hs[i], err);
        if (r < 0) {
            fleet_host_release(&hs[i]);
            return r;
        }
        (*made)++;
        report(rep, &hs[i], "created", -1, NULL);
    }
    return 0;
}

static unsigned max_generation(const struct fleet_host *hs, size_t n)
{
    unsigned g = 0;
    for (size_t i = 0; i < n; i++)
        if (hs[i].generation > g)
            g = hs[i].generation;
    return g;
}

int fleet_deploy(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s, unsigned count,
                 json_t *rep, struct kiln_err *err)
{
    struct fleet_host *all = NULL;
    size_t n_all = 0;
    int r = fleet_spec_check(f, s, err);
    if (r == 0)
        r = fleet_list(f, s->group, &all, &n_all, err);
    if (r < 0)
        return r;
    unsigned gen = max_generation(all, n_all) + 1;
    for (size_t i = 0; i < n_all; i++) {
        if (all[i].state != FLEET_ACTIVE && all[i].state != FLEET_PENDING)
            continue;
        if (strcmp(all[i].image_digest, img->digest) != 0) {
            r = kiln_errf(err, KILN_EINVAL,
                          "group '%s' on '%s' runs %s:%s (host '%s'); move it to %s:%s with kiln rollout", s->group,
                          f->uri, all[i].image_name, all[i].image_version, all[i].name, img->name, img->version);
            fleet_hosts_free(all, n_all);
            return r;
        }
        gen = all[i].generation;
    }
    struct fleet_host *hs = xcalloc(count, sizeof(*hs));
    int *ok = xcalloc(count, sizeof(int));
    size_t made = 0;
    struct kiln_err cerr = KILN_ERR_INIT;
    int cr = create_hosts(f, img, s, gen, all, n_all, hs, count, NULL, &made, rep, &cerr);
    _cleanup_free_ char *why = NULL;
    r = await_hosts(f, s, hs, made, ok, rep, NULL, &why, err);
    size_t bad = 0;
    for (size_t i = 0; i < made; i++)
        bad += !ok[i];
    if (r == 0 && cr < 0)
        r = kiln_errf(err, cr, "group '%s': %zu of %u hosts made, then: %s", s->group, made, count, cerr.msg);
    else if (r == 0 && bad)
        r = kiln_errf(err, KILN_EFAIL, "group '%s': %zu of %u new hosts did not become healthy (stopped, kept as failed); %s",
                      s->group, bad, count, why);
    fleet_hosts_free(hs, made);
    free(ok);
    fleet_hosts_free(all, n_all);
    return r;
}

static struct fleet_host *find(struct fleet_host *hs, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(hs[i].name, name) == 0)
            return &hs[i];
    return NULL;
}

/* An old host goes back into service. */
static int restore(struct fleet *f, struct fleet_host *old, const struct fleet_spec *s, json_t *rep,
                   struct kiln_err *err)
{
    int r = fleet_host_start(f, old->name, err);
    if (r == 0)
        r = fleet_host_set_state(f, old, FLEET_ACTIVE, 0, s, err);
    if (r == 0)
        report(rep, old, "restored", -1, NULL);
    return r;
}

/* An old host leaves service; one deleted by hand is reported, not an error. */
static int retire(struct fleet *f, struct fleet_host *old, const struct fleet_spec *s, json_t *rep,
                  struct kiln_err *err)
{
    int r = fleet_host_set_state(f, old, FLEET_RETIRED, 1, s, err);
    if (r < 0 && err->code == KILN_ENOTFOUND) {
        report(rep, old, "missing", -1, "the domain was deleted outside kiln");
        kiln_err_clear(err);
        return 0;
    }
    if (r == 0)
        report(rep, old, "retired", -1, NULL);
    return r;
}

/* Puts back the hosts that generation gen's hosts replaced, and retires those. */
static int roll_back_generation(struct fleet *f, const struct fleet_spec *s, const char *digest, unsigned gen,
                                json_t *rep, struct kiln_err *err)
{
    struct fleet_host *all = NULL;
    size_t n = 0;
    int r = fleet_list(f, s->group, &all, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct fleet_host *h = &all[i];
        if (h->generation != gen || h->state != FLEET_ACTIVE || strcmp(h->image_digest, digest) != 0)
            continue;
        struct fleet_host *old = find(all, n, h->replaces);
        if (!old || old->state != FLEET_RETIRED)
            continue;
        if ((r = restore(f, old, s, rep, err)) < 0)
            break;
        char *why = NULL;
        int ok = fleet_host_wait(f, old->name, s, time(NULL) + (time_t)s->timeout, &why, err);
        if (ok < 0)
            r = ok;
        else if (!ok)
            r = kiln_errf(err, KILN_EFAIL, "rolling back: host '%s' did not become healthy again: %s", old->name, why);
        free(why);
        if (r == 0)
            r = retire(f, h, s, rep, err);
    }
    fleet_hosts_free(all, n);
    return r;
}

/* Removes retired hosts of generations beyond the newest keep retired ones. */
static int prune(struct fleet *f, const struct fleet_spec *s, unsigned keep, json_t *rep, struct kiln_err *err)
{
    struct fleet_host *all = NULL;
    size_t n = 0;
    int r = fleet_list(f, s->group, &all, &n, err);
    if (r < 0)
        return r;
    /* the retired generations, newest first */
    unsigned *gens = xcalloc(n + 1, sizeof(unsigned));
    size_t ng = 0;
    for (size_t i = n; i-- > 0;) {
        if (all[i].state != FLEET_RETIRED)
            continue;
        size_t j = 0;
        while (j < ng && gens[j] != all[i].generation)
            j++;
        if (j == ng)
            gens[ng++] = all[i].generation;
    }
    /* fleet_list sorts by generation: gens is newest first */
    for (size_t i = 0; i < n && r == 0; i++) {
        if (all[i].state != FLEET_RETIRED || all[i].running)
            continue;
        size_t rank = 0;
        while (rank < ng && gens[rank] != all[i].generation)
            rank++;
        if (rank < keep)
            continue;
        if ((r = fleet_host_delete(f, &all[i], err)) == 0)
            report(rep, &all[i], "pruned", -1, NULL);
    }
    free(gens);
    fleet_hosts_free(all, n);
    return r;
}

int fleet_rollout(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s,
                  const struct fleet_rollout_opts *o, json_t *rep, struct kiln_err *err)
{
    struct fleet_host *all = NULL;
    size_t n = 0;
    int r = fleet_spec_check(f, s, err);
    if (r == 0)
        r = fleet_list(f, s->group, &all, &n, err);
    if (r < 0)
        return r;
    unsigned gen = 0;
    size_t n_old = 0, n_pending = 0, n_live = 0;
    for (size_t i = 0; i < n; i++) {
        struct fleet_host *h = &all[i];
        int target = strcmp(h->image_digest, img->digest) == 0;
        if (h->state == FLEET_ACTIVE || h->state == FLEET_PENDING)
            n_live++;
        if (target && (h->state == FLEET_ACTIVE || h->state == FLEET_PENDING) && h->generation > gen)
            gen = h->generation;
        n_old += !target && h->state == FLEET_ACTIVE;
        n_pending += target && h->state == FLEET_PENDING;
    }
    if (!n_live) {
        fleet_hosts_free(all, n);
        return kiln_errf(err, KILN_EINVAL, "group '%s' on '%s' has no active hosts; make them with kiln deploy",
                         s->group, f->uri);
    }
    if (!gen)
        gen = max_generation(all, n) + 1;
    else if (n_old || n_pending)
        kiln_log(KILN_LOG_INFO, "group '%s': continuing the rollout of %s:%s (generation %u)", s->group, img->name,
                 img->version, gen);
    _cleanup_free_ char *why = NULL;
    double waited = 0, t0 = mono();
    int failed = 0;

    /* What an interrupted rollout left: new hosts not yet checked, and old
     * hosts half retired (marked, still running) or already replaced. */
    for (size_t i = 0; i < n && r == 0 && !failed; i++) {
        struct fleet_host *h = &all[i];
        if (h->state == FLEET_PENDING && strcmp(h->image_digest, img->digest) == 0) {
            int ok = 0;
            if ((r = fleet_host_start(f, h->name, err)) < 0)
                break;
            report(rep, h, "adopted", -1, NULL);
            if ((r = await_hosts(f, s, h, 1, &ok, rep, &waited, &why, err)) < 0)
                break;
            struct fleet_host *old = find(all, n, h->replaces);
            if (!ok && old && old->state == FLEET_RETIRED)
                r = restore(f, old, s, rep, err);
            failed = !ok;
        } else if (h->state == FLEET_RETIRED && h->running) {
            r = fleet_host_set_state(f, h, FLEET_RETIRED, 1, s, err);
        }
    }
    for (size_t i = 0; i < n && r == 0 && !failed; i++) {
        struct fleet_host *h = &all[i];
        if (h->state != FLEET_ACTIVE || strcmp(h->image_digest, img->digest) != 0)
            continue;
        struct fleet_host *old = find(all, n, h->replaces);
        if (old && old->state == FLEET_ACTIVE && strcmp(old->image_digest, img->digest) != 0)
            r = retire(f, old, s, rep, err);
    }

    /* the waves */
    size_t w = (size_t)o->max_surge + o->max_unavailable;
    if (w == 0)
        w = 1;
    struct fleet_host **old = xcalloc(n + 1, sizeof(*old));
    size_t no = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i].state == FLEET_ACTIVE && strcmp(all[i].image_digest, img->digest) != 0)
            old[no++] = &all[i];
    struct fleet_host *hs = xcalloc(w, sizeof(*hs));
    char **repl = xcalloc(w, sizeof(char *));
    int *ok = xcalloc(w, sizeof(int));
    unsigned wave = 0;
    for (size_t i = 0; i < no && r == 0 && !failed; wave++) {
        size_t k = no - i < w ? no - i : w;
        size_t down = o->max_unavailable < k ? o->max_unavailable : k;
        kiln_log(KILN_LOG_INFO, "group '%s': wave %u, %zu host(s)", s->group, wave + 1, k);
        for (size_t j = 0; j < down && r == 0; j++)
            r = retire(f, old[i + j], s, rep, err);
        for (size_t j = 0; j < k; j++)
            repl[j] = old[i + j]->name;
        size_t made = 0;
        if (r == 0) {
            struct kiln_err cerr = KILN_ERR_INIT;
            int cr = create_hosts(f, img, s, gen, all, n, hs, k, repl, &made, rep, &cerr);
            if ((r = await_hosts(f, s, hs, made, ok, rep, &waited, &why, err)) == 0 && cr < 0) {
                r = kiln_errf(err, cr, "%s", cerr.msg);
                for (size_t j = made; j < k; j++)
                    ok[j] = 0;
            }
            for (size_t j = 0; j < k && r >= 0; j++) {
                struct fleet_host *oh = old[i + j];
                if (j >= made || !ok[j]) {
                    failed = 1;
                    if (oh->state == FLEET_RETIRED)
                        r = restore(f, oh, s, rep, err);
                } else if (oh->state == FLEET_ACTIVE) {
                    r = retire(f, oh, s, rep, err);
                }
            }
        }
        for (size_t j = 0; j < made; j++)
            fleet_host_release(&hs[j]);
        i += k;
        if (r == 0 && !failed && i < no && o->pause) {
            kiln_log(KILN_LOG_INFO, "group '%s': pausing %u seconds before the next wave", s->group, o->pause);
            sleep(o->pause);
        }
    }
    free(hs);
    free(repl);
    free(ok);
    free(old);
    if (rep)
        json_array_append_new(rep, json_pack("{s:s,s:i,s:f,s:f}", "event", "summary", "generation", (int)gen,
                                             "seconds", mono() - t0, "boot_wait_seconds", waited));
    if (r == 0 && failed) {
        r = kiln_errf(err, KILN_EFAIL, "rollout of group '%s' to %s:%s stopped, the old hosts keep serving: %s",
                      s->group, img->name, img->version, why ? why : "a new host did not become healthy");
        if (o->auto_rollback) {
            struct kiln_err rerr = KILN_ERR_INIT;
            if (roll_back_generation(f, s, img->digest, gen, rep, &rerr) < 0)
                kiln_err_prefix(err, "%s; and the automatic rollback failed", rerr.msg);
            else
                kiln_log(KILN_LOG_INFO, "group '%s': rolled back to the hosts it ran before", s->group);
        }
    }
    if (r == 0)
        r = prune(f, s, o->keep, rep, err);
    fleet_hosts_free(all, n);
    return r;
}

int fleet_replace(struct fleet *f, const char *name, const struct fleet_image *img, const struct fleet_spec *s,
                  json_t *rep, struct kiln_err *err)
{
    struct fleet_host sick;
    int r = fleet_spec_check(f, s, err);
    if (r == 0)
        r = fleet_host_get(f, name, &sick, err);
    if (r < 0)
        return r;
    if (sick.state == FLEET_RETIRED || sick.state == FLEET_PENDING)
        r = kiln_errf(err, KILN_EINVAL, "host '%s' is %s, not in service: nothing to replace", name,
                      fleet_state_name(sick.state));
    else if (strcmp(sick.image_digest, img->digest) != 0)
        r = kiln_errf(err, KILN_EINVAL, "host '%s' runs %s, not the image given (%s)", name, sick.image_digest,
                      img->digest);
    if (r < 0) {
        fleet_host_release(&sick);
        return r;
    }
    struct fleet_host *all = NULL;
    size_t n = 0;
    struct fleet_spec gs = *s;
    gs.group = sick.group;
    if ((r = fleet_list(f, sick.group, &all, &n, err)) < 0) {
        fleet_host_release(&sick);
        return r;
    }
    struct fleet_host fresh;
    size_t made = 0;
    int ok = 0;
    char *repl[1] = { sick.name };
    _cleanup_free_ char *why = NULL;
    r = create_hosts(f, img, &gs, sick.generation, all, n, &fresh, 1, repl, &made, rep, err);
    if (r == 0)
        r = await_hosts(f, &gs, &fresh, 1, &ok, rep, NULL, &why, err);
    if (r == 0 && !ok)
        r = kiln_errf(err, KILN_EFAIL, "replacing '%s': %s; '%s' is left as it was", name, why, name);
    if (r == 0) {
        r = fleet_host_set_state(f, &sick, FLEET_FAILED, 1, &gs, err);
        if (r == 0)
            report(rep, &sick, "put aside", -1, NULL);
    }
    if (made)
        fleet_host_release(&fresh);
    fleet_hosts_free(all, n);
    fleet_host_release(&sick);
    return r;
}

int fleet_previous_image(struct fleet *f, const char *group, char **name, char **version, char **digest,
                         struct kiln_err *err)
{
    struct fleet_host *all = NULL;
    size_t n = 0;
    int r = fleet_list(f, group, &all, &n, err);
    if (r < 0)
        return r;
    const char *cur = NULL;
    for (size_t i = 0; i < n; i++)
        if (all[i].state == FLEET_ACTIVE)
            cur = all[i].image_digest;
    const struct fleet_host *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (all[i].state == FLEET_RETIRED && (!cur || strcmp(all[i].image_digest, cur) != 0) &&
            (!best || all[i].generation > best->generation))
            best = &all[i];
    if (!best) {
        r = kiln_errf(err, KILN_ENOTFOUND, "group '%s' on '%s' has no retired hosts of an earlier image to roll back to",
                      group, f->uri);
    } else {
        *name = xstrdup(best->image_name);
        *version = xstrdup(best->image_version);
        *digest = xstrdup(best->image_digest);
    }
    fleet_hosts_free(all, n);
    return r;
}
