/* test-probe.c - health probes: parsing, the address a probe picks, the
 * loopback forward read back from a domain's XML, and single TCP and HTTP
 * attempts against a server of this test on 127.0.0.1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "fleet/fleet-internal.h"
#include "tap.h"

/* A server that answers each connection with the next canned reply after
 * reading the request's headers, or closes it without an answer for a NULL one. */
struct server {
    int fd;
    unsigned port;
    const char *const *replies;
    size_t n;
};

static void *serve(void *ud)
{
    struct server *sv = ud;
    for (size_t i = 0; i < sv->n; i++) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            break;
        /* the request is read first (to its end, or the client's close):
         * closing on unread bytes would reset the connection */
        char req[4096];
        size_t got = 0;
        ssize_t k;
        while (got < sizeof(req) - 1 && (k = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
            got += (size_t)k;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        if (sv->replies[i]) {
            size_t len = strlen(sv->replies[i]);
            if (strcmp(sv->replies[i], "BIG") == 0) {
                const char *h = "HTTP/1.0 200 OK\r\n\r\n";
                if (write(c, h, strlen(h)) < 0)
                    break;
                char chunk[8192];
                memset(chunk, 'x', sizeof(chunk));
                for (int j = 0; j < 64; j++)
                    if (write(c, chunk, sizeof(chunk)) < 0)
                        break;
            } else if (write(c, sv->replies[i], len) < 0) {
                break;
            }
        }
        close(c);
    }
    return NULL;
}

static int server_start(struct server *sv, const char *const *replies, size_t n, pthread_t *t)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (sv->fd < 0 || bind(sv->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(sv->fd, 8) < 0 ||
        getsockname(sv->fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    sv->port = ntohs(a.sin_port);
    sv->replies = replies;
    sv->n = n;
    return pthread_create(t, NULL, serve, sv);
}

static int once(const struct fleet_probe *p, unsigned port, char **target, char **why)
{
    free(*target);
    free(*why);
    *target = *why = NULL;
    return fleet_probe_once(p, "127.0.0.1", port, 3, target, why);
}

int main(void)
{
    tap_tmpdir();
    struct kiln_err err = KILN_ERR_INIT;
    struct fleet_probe p;

    /* parsing */
    ok(fleet_probe_parse(FLEET_PROBE_TCP, "22", &p, &err) == 0 && p.kind == FLEET_PROBE_TCP && p.port == 22 && !p.path,
       "a TCP probe is a port");
    ok(fleet_probe_parse(FLEET_PROBE_HTTP, "8080", &p, &err) == 0 && p.port == 8080 && strcmp(p.path, "/") == 0,
       "an HTTP probe without a path asks for /");
    ok(fleet_probe_parse(FLEET_PROBE_HTTP, "80/healthz?full=1", &p, &err) == 0 && p.port == 80 &&
           strcmp(p.path, "/healthz?full=1") == 0,
       "an HTTP probe's path follows its port");
    ok(fleet_probe_parse(FLEET_PROBE_TCP, "22/x", &p, &err) == KILN_EINVAL, "a TCP probe has no path");
    ok(fleet_probe_parse(FLEET_PROBE_TCP, "0", &p, &err) == KILN_EINVAL, "port 0 is refused");
    ok(fleet_probe_parse(FLEET_PROBE_TCP, "65536", &p, &err) == KILN_EINVAL, "port 65536 is refused");
    ok(fleet_probe_parse(FLEET_PROBE_TCP, "-1", &p, &err) == KILN_EINVAL, "a negative port is refused");
    ok(fleet_probe_parse(FLEET_PROBE_HTTP, "http", &p, &err) == KILN_EINVAL, "a name is not a port");
    ok(fleet_probe_parse(FLEET_PROBE_HTTP, "80/a b", &p, &err) == KILN_EINVAL, "a path with a space is refused");
    has_str(err.msg, "printable ASCII without spaces", "saying why: %s", err.msg);
    ok(fleet_probe_parse(FLEET_PROBE_HTTP, "80/\x01", &p, &err) == KILN_EINVAL, "a path with a control byte is refused");

    /* which address */
    const char *a1[] = { "127.0.0.1", "fe80::1", "169.254.3.4", "2001:db8::5", "192.168.122.17", "10.0.0.2" };
    is_int(fleet_addr_pick(a1, 6), 4, "the first IPv4 address that is not loopback or link-local");
    const char *a2[] = { "::1", "fe80::5054:ff:fe12:3456", "2001:db8::5", "2001:db8::6" };
    is_int(fleet_addr_pick(a2, 4), 2, "else the first global IPv6 address");
    const char *a3[] = { "127.0.0.1", "fe80::1", "not an address" };
    is_int(fleet_addr_pick(a3, 3), -1, "none when only loopback, link-local or junk is reported");
    is_int(fleet_addr_pick(NULL, 0), -1, "none when nothing is reported");

    /* the forward in a domain's XML */
    char *fwd = fleet_hostfwd_xml(41234, 8080);
    char *xml = xasprintf("<domain type='qemu' xmlns:qemu='%s'><name>web-1</name>%s</domain>", fleet_qemu_ns(), fwd);
    is_int(fleet_hostfwd_port(xml, 8080), 41234, "the forward kiln writes is read back for its guest port");
    is_int(fleet_hostfwd_port(xml, 80), 0, "and not for another port");
    free(xml);
    xml = xasprintf("<domain type='qemu'><name>web-1</name>%s</domain>",
                    "<commandline><arg value='-netdev'/><arg value='user,hostfwd=tcp:127.0.0.1:41234-:8080'/></commandline>");
    is_int(fleet_hostfwd_port(xml, 8080), 0, "only in libvirt's qemu namespace");
    free(xml);
    xml = xasprintf("<domain xmlns:qemu='%s'><qemu:commandline><qemu:arg value='user,id=n,"
                    "hostfwd=tcp:0.0.0.0:5555-:8080,hostfwd=tcp:127.0.0.1:6666-:8080'/></qemu:commandline></domain>",
                    fleet_qemu_ns());
    is_int(fleet_hostfwd_port(xml, 8080), 6666, "a forward bound to another address than loopback is not taken");
    free(xml);
    is_int(fleet_hostfwd_port("<domain", 8080), 0, "broken XML has no forward");
    free(fwd);
    unsigned port = 0;
    int fr = fleet_free_port(&port, &err);
    ok(fr == 0 && port > 0, "a free loopback port is found: %u", port);

    /* single attempts against a server of ours */
    static const char *const replies[] = {
        NULL,                                                           /* TCP: accepted */
        "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n",             /* HTTP 200 */
        "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", /* HTTP 503 */
        "HTTP/1.0 302 Found\r\nLocation: http://example.com/\r\n\r\n",   /* not followed */
        NULL,                                                           /* closed without an answer */
        "BIG",                                                          /* 512 KiB body */
    };
    struct server sv;
    pthread_t t;
    if (server_start(&sv, replies, 6, &t) != 0) {
        printf("Bail out! cannot start the test server\n");
        return 1;
    }
    char *target = NULL, *why = NULL;
    int r;
    struct fleet_probe tcp = { FLEET_PROBE_TCP, sv.port, NULL }, http = { FLEET_PROBE_HTTP, sv.port, "/healthz" };
    r = once(&tcp, sv.port, &target, &why);
    ok(r == 1, "a TCP probe passes when the port accepts: %s", why ? why : "");
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", sv.port);
    is_str(target, want, "naming the address and port");
    r = once(&http, sv.port, &target, &why);
    ok(r == 1, "an HTTP probe passes on a 200: %s", why ? why : "");
    snprintf(want, sizeof(want), "http://127.0.0.1:%u/healthz", sv.port);
    is_str(target, want, "naming the URL");
    r = once(&http, sv.port, &target, &why);
    ok(r == 0, "an HTTP probe fails on a 503");
    is_str(why, "HTTP status 503", "saying the status");
    r = once(&http, sv.port, &target, &why);
    ok(r == 0, "an HTTP probe fails on a redirect, not followed");
    is_str(why, "HTTP status 302", "saying the status");
    r = once(&http, sv.port, &target, &why);
    ok(r == 0, "an HTTP probe fails on a connection closed without an answer");
    has_str(why, "Empty reply from server", "saying so: %s", why);
    r = once(&http, sv.port, &target, &why);
    ok(r == 1, "a 200 with a body longer than the probe reads passes: %s",
       why ? why : "");
    pthread_join(t, NULL);
    close(sv.fd);
    r = once(&tcp, sv.port, &target, &why);
    ok(r == 0, "a TCP probe fails when nothing listens");
    has_str(why, "connect: Connection refused", "saying why: %s", why);
    r = once(&http, sv.port, &target, &why);
    ok(r == 0, "an HTTP probe fails when nothing listens");
    has_str(why, "onnect", "saying why: %s", why);
    free(target);
    free(why);
    return tap_done();
}
