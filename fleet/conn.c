/* conn.c - libvirt connections, kiln's domain metadata, listing hosts, the group lock. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet/fleet-internal.h"
#include "common/timefmt.h"
#include "common/banned.h"

static const char *const state_names[] = { "pending", "active", "retired", "failed" };

const char *fleet_state_name(enum fleet_state s)
{
    return (unsigned)s < 4 ? state_names[s] : "unknown";
}

static int state_parse(const char *s, enum fleet_state *out)
{
    for (unsigned i = 0; i < 4; i++)
        if (s && strcmp(s, state_names[i]) == 0) {
            *out = (enum fleet_state)i;
            return 0;
        }
    return -1;
}

int fleet_group_check(const char *g, struct kiln_err *err)
{
    size_t n = g ? strlen(g) : 0;
    if (n == 0 || n > FLEET_GROUP_MAX || g[0] == '-')
        return kiln_errf(err, KILN_EINVAL, "group '%s' is not a valid group name (1-%d of a-z, 0-9, '-')",
                         g ? g : "", FLEET_GROUP_MAX);
    for (size_t i = 0; i < n; i++)
        if (!((g[i] >= 'a' && g[i] <= 'z') || (g[i] >= '0' && g[i] <= '9') || g[i] == '-'))
            return kiln_errf(err, KILN_EINVAL, "group '%s' is not a valid group name (1-%d of a-z, 0-9, '-')",
                             g, FLEET_GROUP_MAX);
    return 0;
}

void fleet_host_release(struct fleet_host *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->uri);
    free(h->group);
    free(h->image_name);
    free(h->image_version);
    free(h->image_digest);
    free(h->disk_digest);
    free(h->key_id);
    free(h->deployed);
    free(h->replaces);
    strv_free(h->disks);
    memset(h, 0, sizeof(*h));
}

void fleet_hosts_free(struct fleet_host *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        fleet_host_release(&v[i]);
    free(v);
}

/* ---- errors ----------------------------------------------------------------- */

static void silent(void *ud, virErrorPtr e)
{
    (void)ud;
    (void)e;
}

int fleet_virt_err(struct fleet *f, struct kiln_err *err, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* copied first: any further libvirt call resets the last error */
    char m[384];
    snprintf(m, sizeof(m), "%s", virGetLastErrorMessage());
    int code = virGetLastErrorCode();
    int lost = f && f->conn && virConnectIsAlive(f->conn) != 1;
    if (code == VIR_ERR_NO_DOMAIN)
        return kiln_errf(err, KILN_ENOTFOUND, "%s on '%s': %s", what, f ? f->uri : "?", m);
    if (lost)
        return kiln_errf(err, KILN_EFAIL, "%s: the libvirt connection to '%s' was lost: %s", what, f->uri, m);
    return kiln_errf(err, KILN_EFAIL, "%s on '%s': %s", what, f ? f->uri : "?", m);
}

int fleet_open(const char *uri, struct fleet **out, struct kiln_err *err)
{
    static int once;
    if (!once) {
        virSetErrorFunc(NULL, silent);
        /* A daemon that goes away must be an error from the call that
         * meets it, never a SIGPIPE that ends kiln (libvirt asks its
         * users to ignore the signal). */
        signal(SIGPIPE, SIG_IGN);
        once = 1;
    }
    virConnectPtr c = virConnectOpen(uri);
    if (!c)
        return kiln_errf(err, KILN_EFAIL, "cannot connect to libvirt at '%s': %s", uri ? uri : "(default)",
                         virGetLastErrorMessage());
    struct fleet *f = xcalloc(1, sizeof(*f));
    f->conn = c;
    char *u = virConnectGetURI(c);
    f->uri = xstrdup(u ? u : uri ? uri : "(default)");
    free(u);
    const char *t = virConnectGetType(c);
    f->is_test = t && strcasecmp(t, "test") == 0;
    *out = f;
    return 0;
}

void fleet_close(struct fleet *f)
{
    if (!f)
        return;
    virConnectClose(f->conn);
    free(f->uri);
    free(f);
}

const char *fleet_uri(const struct fleet *f)
{
    return f->uri;
}

/* ---- XML ------------------------------------------------------------------------ */

char *fleet_xml_escape(const char *s)
{
    xmlChar *e = xmlEncodeSpecialChars(NULL, (const xmlChar *)(s ? s : ""));
    char *r = xstrdup((const char *)e);
    xmlFree(e);
    return r;
}

static char *attr(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *r = xstrdup((const char *)v);
    xmlFree(v);
    return r;
}

char *fleet_host_meta_xml(const struct fleet_host *h)
{
    xmlNodePtr n = xmlNewNode(NULL, (const xmlChar *)"host");
    char gen[16];
    snprintf(gen, sizeof(gen), "%u", h->generation);
    const char *kv[][2] = {
        { "group", h->group }, { "image", h->image_name }, { "version", h->image_version },
        { "digest", h->image_digest }, { "disk", h->disk_digest }, { "key", h->key_id },
        { "deployed", h->deployed }, { "generation", gen }, { "state", fleet_state_name(h->state) },
        { "replaces", h->replaces },
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (kv[i][1])
            xmlNewProp(n, (const xmlChar *)kv[i][0], (const xmlChar *)kv[i][1]);
    xmlBufferPtr b = xmlBufferCreate();
    xmlNodeDump(b, NULL, n, 0, 0);
    char *r = xstrdup((const char *)xmlBufferContent(b));
    xmlBufferFree(b);
    xmlFreeNode(n);
    return r;
}

/* Parses a <host> (or <lock>) metadata element; returns its root or NULL. */
static xmlDocPtr meta_parse(const char *xml, const char *root)
{
    xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING);
    if (!d)
        return NULL;
    xmlNodePtr n = xmlDocGetRootElement(d);
    if (!n || strcmp((const char *)n->name, root) != 0) {
        xmlFreeDoc(d);
        return NULL;
    }
    return d;
}

/* The disk source paths of a domain (its inactive XML). */
static char **domain_disks(virDomainPtr dom)
{
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    char **v = xcalloc(1, sizeof(char *));
    if (!xml)
        return v;
    xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING);
    free(xml);
    if (!d)
        return v;
    xmlXPathContextPtr x = xmlXPathNewContext(d);
    xmlXPathObjectPtr o = x ? xmlXPathEvalExpression((const xmlChar *)"/domain/devices/disk[@device='disk']/source", x)
                            : NULL;
    size_t n = 0;
    if (o && o->nodesetval)
        for (int i = 0; i < o->nodesetval->nodeNr; i++) {
            char *p = attr(o->nodesetval->nodeTab[i], "file");
            if (!p)
                p = attr(o->nodesetval->nodeTab[i], "dev");
            if (!p)
                continue;
            v = xrealloc(v, (n + 2) * sizeof(char *));
            v[n++] = p;
            v[n] = NULL;
        }
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(x);
    xmlFreeDoc(d);
    return v;
}

/* 1 and *out filled when dom is a kiln host, 0 when it is not, <0 on error. */
static int host_read(struct fleet *f, virDomainPtr dom, struct fleet_host *out, struct kiln_err *err)
{
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, FLEET_NS, VIR_DOMAIN_AFFECT_CONFIG);
    if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA)
            return 0;
        return fleet_virt_err(f, err, "reading the metadata of domain '%s'", virDomainGetName(dom));
    }
    xmlDocPtr d = meta_parse(xml, "host");
    free(xml);
    if (!d)
        return 0;
    xmlNodePtr n = xmlDocGetRootElement(d);
    memset(out, 0, sizeof(*out));
    out->name = xstrdup(virDomainGetName(dom));
    out->uri = xstrdup(f->uri);
    out->group = attr(n, "group");
    out->image_name = attr(n, "image");
    out->image_version = attr(n, "version");
    out->image_digest = attr(n, "digest");
    out->disk_digest = attr(n, "disk");
    out->key_id = attr(n, "key");
    out->deployed = attr(n, "deployed");
    out->replaces = attr(n, "replaces");
    _cleanup_free_ char *gen = attr(n, "generation");
    _cleanup_free_ char *st = attr(n, "state");
    xmlFreeDoc(d);
    out->generation = gen ? (unsigned)strtoul(gen, NULL, 10) : 0;
    if (!out->group || state_parse(st, &out->state) < 0) {
        char shown[64];
        int r = kiln_errf(err, KILN_EINVAL, "domain '%s' on '%s': its kiln metadata is damaged (group '%s', state '%s')",
                          out->name, f->uri, out->group ? out->group : "", kiln_err_shown(st ? st : "", st ? strlen(st) : 0,
                                                                                         shown, sizeof(shown)));
        fleet_host_release(out);
        return r;
    }
    out->running = virDomainIsActive(dom) == 1;
    out->disks = domain_disks(dom);
    return 1;
}

static int host_cmp(const void *a, const void *b)
{
    const struct fleet_host *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    if (c)
        return c;
    if (x->generation != y->generation)
        return x->generation < y->generation ? -1 : 1;
    /* web-2 before web-10 */
    size_t lx = strlen(x->name), ly = strlen(y->name);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

int fleet_list(struct fleet *f, const char *group, struct fleet_host **out, size_t *n, struct kiln_err *err)
{
    virDomainPtr *doms = NULL;
    int nd = virConnectListAllDomains(f->conn, &doms, 0);
    if (nd < 0)
        return fleet_virt_err(f, err, "listing domains");
    struct fleet_host *v = xcalloc((size_t)nd + 1, sizeof(*v));
    size_t k = 0;
    int r = 0;
    for (int i = 0; i < nd; i++) {
        if (r == 0) {
            int got = host_read(f, doms[i], &v[k], err);
            if (got < 0 && err->code == KILN_ENOTFOUND) /* deleted while we listed */
                got = 0;
            if (got < 0)
                r = got;
            else if (got && group && strcmp(v[k].group, group) != 0)
                fleet_host_release(&v[k]);
            else if (got)
                k++;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (r < 0) {
        fleet_hosts_free(v, k);
        return r;
    }
    qsort(v, k, sizeof(*v), host_cmp);
    *out = v;
    *n = k;
    return 0;
}

int fleet_host_get(struct fleet *f, const char *name, struct fleet_host *out, struct kiln_err *err)
{
    virDomainPtr dom = virDomainLookupByName(f->conn, name);
    if (!dom) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            return kiln_errf(err, KILN_ENOTFOUND, "no host '%s' on '%s'", name, f->uri);
        return fleet_virt_err(f, err, "looking up host '%s'", name);
    }
    int r = host_read(f, dom, out, err);
    virDomainFree(dom);
    if (r == 0)
        return kiln_errf(err, KILN_EINVAL, "domain '%s' on '%s' is not a kiln host (it has no kiln metadata)", name,
                         f->uri);
    return r < 0 ? r : 0;
}

int fleet_host_lookup(const char *uri, const char *name, struct fleet_host *out, struct kiln_err *err)
{
    struct fleet *f = NULL;
    int r = fleet_open(uri, &f, err);
    if (r == 0)
        r = fleet_host_get(f, name, out, err);
    fleet_close(f);
    return r;
}

/* Rewrites a host's metadata element (the definition, and the running
 * domain's when it runs). */
int fleet_meta_write(struct fleet *f, virDomainPtr dom, const struct fleet_host *h, struct kiln_err *err)
{
    _cleanup_free_ char *xml = fleet_host_meta_xml(h);
    unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainIsActive(dom) == 1)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, FLEET_NS_PREFIX, FLEET_NS, flags) < 0)
        return fleet_virt_err(f, err, "writing the metadata of host '%s'", h->name);
    return 0;
}

/* ---- the group lock -------------------------------------------------------------- */

static char *lock_name(const char *group)
{
    return xasprintf("kiln-lock-%s", group);
}

/* The holder's description, and whether it is a dead process of this machine. */
static char *lock_holder(virDomainPtr dom, int *stale)
{
    *stale = 0;
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, FLEET_NS, VIR_DOMAIN_AFFECT_CONFIG);
    if (!xml)
        return xstrdup("an unknown holder");
    xmlDocPtr d = meta_parse(xml, "lock");
    free(xml);
    if (!d)
        return xstrdup("an unknown holder");
    xmlNodePtr n = xmlDocGetRootElement(d);
    _cleanup_free_ char *pid = attr(n, "pid");
    _cleanup_free_ char *host = attr(n, "host");
    _cleanup_free_ char *op = attr(n, "operation");
    _cleanup_free_ char *since = attr(n, "since");
    xmlFreeDoc(d);
    char me[256] = "";
    gethostname(me, sizeof(me) - 1);
    long p = pid ? strtol(pid, NULL, 10) : 0;
    if (host && strcmp(host, me) == 0 && p > 0 && kill((pid_t)p, 0) < 0 && errno == ESRCH)
        *stale = 1;
    return xasprintf("'%s' (pid %s on %s since %s)", op ? op : "?", pid ? pid : "?", host ? host : "?",
                     since ? since : "?");
}

int fleet_lock(struct fleet *f, const char *group, const char *op, struct kiln_err *err)
{
    _cleanup_free_ char *name = lock_name(group);
    char me[256] = "", now[RFC3339_SIZE];
    gethostname(me, sizeof(me) - 1);
    rfc3339_format((int64_t)time(NULL), now);
    _cleanup_free_ char *eme = fleet_xml_escape(me);
    _cleanup_free_ char *xml = xasprintf(
        "<domain type='%s'><name>%s</name><memory unit='MiB'>16</memory>"
        "<description>kiln: the lock of group %s, held while a %s runs</description>"
        "<metadata><%s:lock xmlns:%s='%s' group='%s' operation='%s' pid='%ld' host='%s' since='%s'/></metadata>"
        "<os><type arch='x86_64'>hvm</type></os></domain>",
        f->is_test ? "test" : "qemu", name, group, op, FLEET_NS_PREFIX, FLEET_NS_PREFIX, FLEET_NS, group, op,
        (long)getpid(), eme, now);
    for (int attempt = 0; attempt < 2; attempt++) {
        virDomainPtr dom = virDomainDefineXML(f->conn, xml);
        if (dom) {
            virDomainFree(dom);
            return 0;
        }
        _cleanup_free_ char *why = xstrdup(virGetLastErrorMessage());
        dom = virDomainLookupByName(f->conn, name);
        if (!dom)
            return kiln_errf(err, KILN_EFAIL, "cannot take the lock of group '%s' on '%s': %s", group, f->uri, why);
        int stale;
        _cleanup_free_ char *holder = lock_holder(dom, &stale);
        if (stale && attempt == 0) {
            kiln_log(KILN_LOG_WARN, "group '%s': taking over the lock of %s, a process that is gone", group, holder);
            virDomainUndefine(dom);
            virDomainFree(dom);
            continue;
        }
        virDomainFree(dom);
        return kiln_errf(err, KILN_EEXIST,
                         "group '%s' on '%s' is locked by %s; another operation runs on it (the lock is the domain '%s')",
                         group, f->uri, holder, name);
    }
    return kiln_errf(err, KILN_EEXIST, "group '%s' on '%s': could not take its lock", group, f->uri);
}

int fleet_unlock(struct fleet *f, const char *group, struct kiln_err *err)
{
    _cleanup_free_ char *name = lock_name(group);
    virDomainPtr dom = virDomainLookupByName(f->conn, name);
    if (!dom)
        return 0;
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, FLEET_NS, VIR_DOMAIN_AFFECT_CONFIG);
    int mine = 0;
    if (xml) {
        xmlDocPtr d = meta_parse(xml, "lock");
        free(xml);
        if (d) {
            _cleanup_free_ char *pid = attr(xmlDocGetRootElement(d), "pid");
            mine = pid && strtol(pid, NULL, 10) == (long)getpid();
            xmlFreeDoc(d);
        }
    }
    int r = 0;
    if (mine && virDomainUndefine(dom) < 0)
        r = fleet_virt_err(f, err, "dropping the lock of group '%s'", group);
    virDomainFree(dom);
    return r;
}
