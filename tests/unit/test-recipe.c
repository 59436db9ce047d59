/* test-recipe.c - the recipe parser: every field of a full recipe, the
 * defaults, and every way a recipe can be wrong, with its position. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/tap.h"
#include "common/common.h"
#include "common/hash.h"
#include "images/manifest.h"
#include "images/ref.h"
#include "images/store.h"
#include "recipes/recipe.h"
#include "common/banned.h"

#define HEAD "name: x\nversion: 1.0.0\nbase: {scratch: true}\n"

static struct recipe *parse_ok(const char *yaml, const char *what)
{
    struct recipe *r = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    int rc = recipe_parse(yaml, strlen(yaml), "t.yaml", "/recipes", &r, &err);
    if (!ok(rc == 0 && r, "parses: %s", what))
        diag("%s", err.msg);
    return r;
}

/* want is "LINE:COL: message start"; the whole message must begin with "t.yaml:" want. */
static void parse_err_n(const char *yaml, size_t len, const char *want, const char *what)
{
    struct recipe *r = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    int rc = recipe_parse(yaml, len, "t.yaml", "/recipes", &r, &err);
    char full[600];
    snprintf(full, sizeof(full), "t.yaml:%s", want);
    if (!ok(rc == KILN_EINVAL && !r && strncmp(err.msg, full, strlen(full)) == 0, "rejects %s", what))
        diag("rc %d, got '%s'\n#  want '%s...'", rc, err.msg, full);
    recipe_free(r);
}

static void parse_err(const char *yaml, const char *want, const char *what)
{
    parse_err_n(yaml, strlen(yaml), want, what);
}

static const char full_recipe[] =
    "# every key\n"
    "name: web.app_1-x\n"
    "version: 2.1.0-rc.1.build.05a\n"
    "description: \"a web server\"\n"
    "labels:\n"
    "  zeta: last\n"
    "  alpha: \"1\"\n"
    "  num: 2\n"
    "base:\n"
    "  debian:\n"
    "    suite: bookworm\n"
    "    variant: apt\n"
    "    packages: [ca-certificates]\n"
    "packages: [nginx, \"curl=7.88.1-10+deb12u5\", libc6:amd64]\n"
    "files:\n"
    "  - content: \"hi\\n\"\n"
    "    dest: /srv/index.html\n"
    "    mode: \"0640\"\n"
    "    owner: \"www-data:www-data\"\n"
    "  - src: ./conf/nginx.conf\n"
    "    dest: //etc/nginx/./nginx.conf/\n"
    "    mode: 04755\n"
    "  - link: ../lib/x\n"
    "    dest: /usr/bin/x\n"
    "    owner: 0:0\n"
    "  - src: /abs/file\n"
    "    dest: /abs\n"
    "    mode: 0o600\n"
    "users:\n"
    "  - name: deploy\n"
    "    uid: 1001\n"
    "    groups: [sudo, adm]\n"
    "    shell: /bin/bash\n"
    "    ssh_authorized_keys: [\"ssh-ed25519 AAAA deploy@host\"]\n"
    "  - name: root\n"
    "    uid: 0\n"
    "  - {name: _svc}\n"
    "hostname: web-1.example.org\n"
    "services: {enable: [nginx.service, getty@tty1.service], disable: [apt-daily.timer]}\n"
    "run:\n"
    "  - echo hello\n"
    "  - {command: \"apt-get clean\", timeout: 60}\n"
    "  - command: |\n"
    "      set -e\n"
    "      true\n"
    "sysprep: false\n"
    "container:\n"
    "  entrypoint: nginx -g 'daemon off;'\n"
    "  cmd: [-v, \"2\"]\n"
    "  env: {B: x, A: 1, C_2: true}\n"
    "  workdir: /srv\n"
    "  user: \"33:33\"\n"
    "  ports: [80, \"443/tcp\", 53/udp]\n"
    "outputs:\n"
    "  - oci: {compression: zstd}\n"
    "  - tar\n"
    "  - qcow2: {size: 4G, partition_table: gpt, filesystem: ext4, bootable: true, compress: true}\n"
    "  - raw: {size: 1073741824, partition_table: mbr}\n"
    "boot_test: {marker: \"ready>\", timeout: 600}\n";

static void test_full(void)
{
    struct recipe *r = parse_ok(full_recipe, "a recipe with every key");
    if (!r)
        return;
    is_str(r->path, "/recipes/t.yaml", "path is absolute");
    is_str(r->source, "t.yaml", "source is the name as given");
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(full_recipe, strlen(full_recipe), hex);
    is_str(r->sha256, hex, "sha256 is the digest of the bytes");
    is_str(r->name, "web.app_1-x", "name");
    is_str(r->version, "2.1.0-rc.1.build.05a", "version with a pre-release");
    is_str(r->description, "a web server", "description");
    is_int(r->n_labels, 3, "three labels");
    is_str(r->labels[0].key, "alpha", "labels sorted by key");
    is_str(r->labels[0].value, "1", "quoted label value");
    is_str(r->labels[1].key, "num", "label num");
    is_str(r->labels[1].value, "2", "a number label value is taken as written");
    is_str(r->labels[2].key, "zeta", "label zeta last");

    is_int(r->base.kind, BASE_DEBIAN, "debian base");
    is_str(r->base.suite, "bookworm", "suite");
    is_str(r->base.variant, "apt", "variant");
    is_str(r->base.mirror, "http://deb.debian.org/debian", "default mirror");
    is_int(r->base.packages.n, 1, "base packages");
    is_str(r->base.packages.v[0], "ca-certificates", "base package");
    ok(r->base.packages.v[1] == NULL, "strv is NULL-terminated");

    is_int(r->packages.n, 3, "packages");
    is_str(r->packages.v[1], "curl=7.88.1-10+deb12u5", "package with version");
    is_str(r->packages.v[2], "libc6:amd64", "package with arch");

    is_int(r->n_files, 4, "four files");
    const struct recipe_file *f = r->files;
    is_str(f[0].dest, "/srv/index.html", "content dest");
    ok(f[0].content && f[0].content_len == 3 && memcmp(f[0].content, "hi\n", 3) == 0, "inline content");
    ok(!f[0].src && !f[0].link, "content only");
    is_int(f[0].mode, 0640, "quoted mode");
    ok(f[0].has_mode, "has_mode");
    is_str(f[0].owner, "www-data:www-data", "owner");
    is_int(f[0].pos.line, 16, "file position line");
    is_int(f[0].pos.col, 5, "file position column");
    is_str(f[1].src, "/recipes/conf/nginx.conf", "relative src resolves against the recipe's folder");
    is_str(f[1].dest, "/etc/nginx/nginx.conf", "dest normalised");
    is_int(f[1].mode, 04755, "plain octal mode with setuid");
    is_str(f[2].link, "../lib/x", "link target as written");
    ok(!f[2].has_mode, "link without mode");
    is_str(f[2].owner, "0:0", "numeric owner");
    is_str(f[3].src, "/abs/file", "absolute src");
    is_int(f[3].mode, 0600, "0o mode");

    is_int(r->n_users, 3, "three users");
    is_str(r->users[0].name, "deploy", "user name");
    is_int(r->users[0].uid, 1001, "uid");
    is_int(r->users[0].groups.n, 2, "groups");
    is_str(r->users[0].groups.v[1], "adm", "second group");
    is_str(r->users[0].shell, "/bin/bash", "shell");
    is_str(r->users[0].ssh_authorized_keys.v[0], "ssh-ed25519 AAAA deploy@host", "ssh key");
    is_int(r->users[1].uid, 0, "root may have uid 0");
    is_int(r->users[2].uid, -1, "uid defaults to -1");
    ok(r->users[2].shell == NULL, "shell defaults to NULL");

    is_str(r->hostname, "web-1.example.org", "hostname");
    is_int(r->services_enable.n, 2, "services enabled");
    is_str(r->services_enable.v[1], "getty@tty1.service", "templated unit");
    is_str(r->services_disable.v[0], "apt-daily.timer", "service disabled");

    is_int(r->n_run, 3, "three run commands");
    is_str(r->run[0].command, "echo hello", "run string");
    is_int(r->run[0].timeout, RECIPE_DEFAULT_RUN_TIMEOUT, "default timeout");
    is_str(r->run[1].command, "apt-get clean", "run mapping");
    is_int(r->run[1].timeout, 60, "run timeout");
    is_str(r->run[2].command, "set -e\ntrue\n", "block scalar command");
    is_int(r->sysprep, 0, "sysprep false");

    ok(r->has_container, "has_container");
    const struct recipe_container *c = &r->container;
    is_int(c->entrypoint.n, 3, "string entrypoint is the shell form");
    is_str(c->entrypoint.v[0], "/bin/sh", "shell form argv[0]");
    is_str(c->entrypoint.v[2], "nginx -g 'daemon off;'", "shell form command");
    is_int(c->cmd.n, 2, "cmd list");
    is_str(c->cmd.v[1], "2", "cmd item");
    is_int(c->n_env, 3, "env");
    is_str(c->env[0].key, "B", "env keeps the written order");
    is_str(c->env[1].value, "1", "env number value");
    is_str(c->env[2].value, "true", "env boolean value");
    is_str(c->workdir, "/srv", "workdir");
    is_str(c->user, "33:33", "container user");
    is_int(c->ports.n, 3, "ports");
    is_str(c->ports.v[0], "80/tcp", "bare port gets /tcp");
    is_str(c->ports.v[2], "53/udp", "udp port");

    is_int(r->n_outputs, 4, "four outputs");
    is_int(r->outputs[0].type, OUTPUT_OCI, "oci");
    is_int(r->outputs[0].compression, COMPRESSION_ZSTD, "zstd");
    is_int(r->outputs[1].type, OUTPUT_TAR, "tar");
    is_int(r->outputs[2].type, OUTPUT_QCOW2, "qcow2");
    ok(r->outputs[2].size == 4ull << 30, "size 4G");
    is_int(r->outputs[2].partition_table, PARTITION_GPT, "gpt");
    is_str(r->outputs[2].filesystem, "ext4", "ext4");
    is_int(r->outputs[2].bootable, 1, "bootable");
    is_int(r->outputs[2].compress, 1, "compress");
    is_int(r->outputs[3].type, OUTPUT_RAW, "raw");
    ok(r->outputs[3].size == 1073741824ull, "size in bytes");
    is_int(r->outputs[3].partition_table, PARTITION_MBR, "mbr");
    is_int(r->outputs[3].bootable, 0, "bootable default");
    is_str(r->boot_test.marker, "ready>", "boot_test marker");
    is_int(r->boot_test.timeout, 600, "boot_test timeout");
    ok(recipe_needs_guest(r), "needs the guest");

    json_t *j = recipe_to_json(r);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    has_str(s, "\"mode\":\"04755\"", "json: mode as octal string");
    has_str(s, "\"kind\":\"debian\",\"mirror\":\"http://deb.debian.org/debian\"", "json: base");
    has_str(s, "\"base\":{\"components\":[\"main\"],\"keyring\":null,", "json: base components and keyring");
    has_str(s, "{\"bootable\":true,\"compress\":true,\"filesystem\":\"ext4\",\"firmware\":\"hybrid\",\"partition_table\":\"gpt\",\"secure_boot\":false,\"size\":4294967296,\"type\":\"qcow2\"",
            "json: qcow2 output");
    json_t *again = recipe_to_json(r);
    char *s2 = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(s, s2, "json is stable");
    free(s);
    free(s2);
    json_decref(j);
    json_decref(again);
    recipe_free(r);
}

static void test_defaults(void)
{
    struct recipe *r = parse_ok(HEAD, "a minimal recipe");
    if (!r)
        return;
    is_int(r->base.kind, BASE_SCRATCH, "scratch");
    ok(r->description == NULL && r->hostname == NULL, "optional strings NULL");
    is_int(r->sysprep, 1, "sysprep defaults to true");
    is_int(r->n_outputs, 1, "one output by default");
    is_int(r->outputs[0].type, OUTPUT_OCI, "default output oci");
    is_int(r->outputs[0].compression, COMPRESSION_GZIP, "gzip by default");
    is_str(r->boot_test.marker, "login:", "default marker");
    is_int(r->boot_test.timeout, 300, "default boot timeout");
    is_int(r->drift_ignore.n, 0, "no drift.ignore by default");
    ok(!r->has_container, "no container");
    ok(!recipe_needs_guest(r), "no guest needed");
    json_t *j = recipe_to_json(r);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    has_str(s, "\"outputs\":[{\"compression\":\"gzip\",\"type\":\"oci\"}]", "json: default outputs");
    has_str(s, "\"sysprep\":true", "json: default sysprep");
    has_str(s, "\"container\":null", "json: no container");
    free(s);
    json_decref(j);
    recipe_free(r);

    r = parse_ok("name: x\nversion: 1.0.0\nbase:\n  oci: {layout: img}\n"
                 "files: [{content: '', dest: /empty}]\noutputs: [{qcow2: }]\n",
                 "an oci base, empty content and a bare qcow2");
    if (r) {
        is_str(r->base.path, "/recipes/img", "oci layout resolved");
        is_str(r->base.ref, "latest", "oci ref defaults to latest");
        is_int(r->files[0].content_len, 0, "empty content");
        is_int(r->files[0].mode, 0644, "files default to 0644");
        ok(r->outputs[0].size == 0, "size 0 = automatic");
        recipe_free(r);
    }
    r = parse_ok("name: x\nversion: 1.0.0\nbase: {tarball: {path: ../r.tar, sha256: "
                 "\"sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"}}\n",
                 "tarball base with a prefixed, upper-case digest");
    if (r) {
        is_str(r->base.path, "/recipes/../r.tar", "tarball path resolved");
        is_str(r->base.sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "digest lower-cased");
        recipe_free(r);
    }
    r = parse_ok("name: x\nversion: 1.0.0\nbase: {disk: {path: /d.qcow2}}\n", "disk base without digest");
    if (r) {
        is_int(r->base.kind, BASE_DISK, "disk base");
        is_str(r->base.sha256, "", "no digest declared");
        ok(recipe_needs_guest(r), "disk base needs the guest");
        recipe_free(r);
    }
    r = parse_ok("name: x\nversion: 1.0.0\nbase: {directory: rootfs}\n", "directory base");
    if (r) {
        is_str(r->base.path, "/recipes/rootfs", "directory resolved");
        recipe_free(r);
    }
    for (size_t i = 0; i < 4; i++) {
        static const char *const names[] = { "oci", "tar", "qcow2", "raw" };
        is_str(recipe_output_name((enum recipe_output_type)i), names[i], "output name %s", names[i]);
    }
}

static void test_errors(void)
{
    /* required keys and unknown keys */
    parse_err(HEAD "pakages: [a]\n", "4:1: unknown key 'pakages' (did you mean 'packages'?)", "a misspelt key");
    parse_err(HEAD "entrypoint: [sh]\n", "4:1: unknown key 'entrypoint' (did you mean 'container.entrypoint'?)",
              "a container key at the top level");
    parse_err("name: x\nversion: 1.0.0\nscratch: true\n", "3:1: unknown key 'scratch' (did you mean 'base.scratch'?)",
              "a base at the top level");
    parse_err(HEAD "colour: blue\n", "4:1: unknown key 'colour'", "an unknown key");
    parse_err(HEAD "drift: {ignore: [var/log]}\n", "4:18: drift.ignore[0]: pattern 'var/log' is not an absolute path",
              "a relative drift.ignore pattern");
    parse_err(HEAD "drift: {ignore: [/a/../b]}\n", "4:18: drift.ignore[0]: pattern '/a/../b' has an empty, '.' or '..' component",
              "a drift.ignore pattern with ..");
    parse_err(HEAD "drift: {ignore: [/a, /a]}\n", "4:22: 'drift.ignore' lists '/a' twice", "a repeated drift.ignore pattern");
    parse_err(HEAD "drift: {skip: [/a]}\n", "4:9: unknown key 'skip' in 'drift'", "an unknown key in drift");
    parse_err(HEAD "drift: [/a]\n", "4:8: 'drift' must be a mapping, not a list", "drift as a list");
    parse_err("name: x\nversion: 1.0.0\nbase: {tarball: {path: x, sha265: y}}\n",
              "3:27: unknown key 'sha265' in 'base.tarball' (did you mean 'sha256'?)", "a misspelt nested key");
    parse_err(HEAD "files: [{content: x, dset: /a}]\n",
              "4:22: unknown key 'dset' in 'files[0]' (did you mean 'dest'?)", "a misspelt file key");
    parse_err("version: 1.0.0\nbase: {scratch: true}\n", "1:1: missing required key 'name'", "a missing name");
    parse_err("name: x\nbase: {scratch: true}\n", "1:1: missing required key 'version'", "a missing version");
    parse_err("name: x\nversion: 1.0.0\n", "1:1: missing required key 'base'", "a missing base");
    parse_err(HEAD "files: [{content: x}]\n", "4:9: 'files[0]' is missing the required key 'dest'", "a file without dest");
    parse_err(HEAD "users: [{uid: 5}]\n", "4:9: 'users[0]' is missing the required key 'name'", "a user without name");

    /* types */
    parse_err(HEAD "packages: curl\n", "4:11: 'packages' must be a list, not a string", "a string for a list");
    parse_err(HEAD "labels: [a]\n", "4:9: 'labels' must be a mapping, not a list", "a list for a mapping");
    parse_err(HEAD "sysprep: yes\n", "4:10: 'sysprep' must be true or false, not a string", "yes for a boolean");
    parse_err(HEAD "description: true\n", "4:14: 'description' must be a string, not a boolean (quote it)",
              "a boolean for a string");
    parse_err(HEAD "hostname:\n", "4:10: 'hostname' must be a string, not empty", "an empty value");
    parse_err(HEAD "description: ''\n", "4:14: 'description' must not be empty", "an empty string");
    parse_err(HEAD "run: [{command: x, timeout: '60'}]\n", "4:29: 'run[0].timeout' must be an integer, not a string",
              "a quoted timeout");
    parse_err(HEAD "run: [[a]]\n", "4:7: 'run[0]' must be a command string or a mapping", "a list as a command");
    parse_err(HEAD "run: [{command: x, timeout: 0}]\n", "4:29: 'run[0].timeout' must be between 1 and 86400, not 0",
              "a zero timeout");
    parse_err(HEAD "files: [{content: [a], dest: /a}]\n", "4:19: 'files[0].content' must be a string, not a list",
              "a list as content");
    parse_err(HEAD "container: {env: {A: [x]}}\n", "4:22: 'container.env.A' must be a string, not a list",
              "a list as an env value");
    parse_err(HEAD "container: {env: {1A: x}}\n", "4:19: 'container.env': '1A' is not a valid environment variable",
              "a bad env name");
    parse_err(HEAD "container: {cmd: []}\n", "4:18: 'container.cmd' must not be an empty list", "an empty cmd");
    parse_err(HEAD "container: {workdir: srv}\n", "4:22: 'container.workdir' must be an absolute path", "a relative workdir");
    parse_err(HEAD "container: {ports: [0]}\n", "4:21: 'container.ports[0]': port 0 is not between 1 and 65535", "port 0");
    parse_err(HEAD "container: {ports: [70000]}\n", "4:21: 'container.ports[0]': port 70000", "port 70000");
    parse_err(HEAD "container: {ports: [80/icmp]}\n", "4:21: 'container.ports[0]': '80/icmp' is not a port", "a bad protocol");
    parse_err(HEAD "container: {ports: [80, '80/tcp']}\n", "4:25: 'container.ports[1]': port '80/tcp' is listed twice",
              "a duplicate port");

    /* name, version, hostname */
    parse_err("name: My App\nversion: 1.0.0\nbase: {scratch: true}\n", "1:7: image name 'My App' is invalid", "a bad name");
    parse_err("name: -x\nversion: 1.0.0\nbase: {scratch: true}\n", "1:7: image name '-x' is invalid", "a leading dash");
    {
        char y[400];
        snprintf(y, sizeof(y), "name: %0129d\nversion: 1.0.0\nbase: {scratch: true}\n", 0);
        parse_err(y, "1:7: image name '000", "a 129-character name");
    }
    static const char *const bad_versions[] = { "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+",
                                                "1.0.0-a..b", "1.0.0-a_b", "1..0", "1.0.0.0", "1.0.x", "-1.0.0" };
    for (size_t i = 0; i < ARRAY_SIZE(bad_versions); i++) {
        char y[200], want[200];
        snprintf(y, sizeof(y), "name: x\nversion: \"%s\"\nbase: {scratch: true}\n", bad_versions[i]);
        snprintf(want, sizeof(want), "2:10: version '%s' is not a semantic version", bad_versions[i]);
        parse_err(y, want, bad_versions[i]);
    }
    static const char *const good_versions[] = { "0.0.0", "1.2.3-alpha.1", "1.0.0-0.3.7", "1.0.0-x-y-z.--",
                                                 "10.20.30" };
    for (size_t i = 0; i < ARRAY_SIZE(good_versions); i++) {
        char y[200];
        snprintf(y, sizeof(y), "name: x\nversion: \"%s\"\nbase: {scratch: true}\n", good_versions[i]);
        recipe_free(parse_ok(y, good_versions[i]));
    }
    parse_err("name: x\nversion: 1.0.0+build.1\nbase: {scratch: true}\n",
              "2:10: version '1.0.0+build.1' has build metadata ('+build.1'), which kiln does not support",
              "build metadata, with its own reason");
    parse_err(HEAD "hostname: -bad\n", "4:11: hostname '-bad' is invalid", "a hostname starting with '-'");
    parse_err(HEAD "hostname: a..b\n", "4:11: hostname 'a..b' is invalid", "an empty hostname label");
    parse_err(HEAD "hostname: a_b\n", "4:11: hostname 'a_b' is invalid", "an underscore in a hostname");
    parse_err(HEAD "hostname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
              "4:11: hostname", "a 65-character hostname");

    /* base */
    parse_err("name: x\nversion: 1.0.0\nbase: {}\n", "3:7: 'base' must name exactly one of scratch", "an empty base");
    parse_err("name: x\nversion: 1.0.0\nbase: {scratch: true, directory: /}\n", "3:23: 'base' must name exactly one",
              "two bases");
    parse_err("name: x\nversion: 1.0.0\nbase: {scratch: false}\n", "3:17: 'base.scratch' must be true", "scratch: false");
    parse_err("name: x\nversion: 1.0.0\nbase: {scrach: true}\n", "3:8: unknown key 'scrach' in 'base' (did you mean 'scratch'?)",
              "a misspelt base");
    parse_err("name: x\nversion: 1.0.0\nbase: debian\n", "3:7: 'base' must be a mapping, not a string", "a string base");
    parse_err("name: x\nversion: 1.0.0\nbase: {tarball: {path: x, sha256: abc}}\n",
              "3:35: 'base.tarball.sha256' must be 64 hexadecimal digits, not 'abc'", "a short digest");
    parse_err("name: x\nversion: 1.0.0\nbase: {debian: {variant: apt}}\n",
              "3:16: 'base.debian' is missing the required key 'suite'", "debian without suite");
    parse_err("name: x\nversion: 1.0.0\nbase: {debian: {suite: bookworm, variant: tiny}}\n",
              "3:43: 'base.debian.variant': 'tiny' is not an mmdebstrap variant", "a bad variant");
    parse_err("name: x\nversion: 1.0.0\nbase: {debian: {suite: bookworm, mirror: ftp://x}}\n",
              "3:42: 'base.debian.mirror' must be an http://", "an ftp mirror");
    parse_err("name: x\nversion: 1.0.0\nbase: {oci: {ref: latest}}\n", "3:13: 'base.oci' is missing the required key 'layout'",
              "oci without layout");

    parse_err("name: x\nversion: 1.0.0\nbase: {debian: {suite: Bookworm}}\n",
              "3:24: 'base.debian.suite': 'Bookworm' is not a Debian suite name", "a bad suite");
    parse_err("name: x\nversion: 1.0.0\nbase: {debian: {suite: sid, mirror: \"http://a b\"}}\n",
              "3:37: 'base.debian.mirror' must not contain spaces", "a mirror with a space");
    parse_err("name: x\nversion: 1.0.0\nbase: {oci: {layout: l, ref: \"a b\"}}\n",
              "3:30: 'base.oci.ref': 'a b' is not a valid reference name", "a bad OCI reference");
    recipe_free(parse_ok("name: x\nversion: 1.0.0\nbase: {oci: {layout: l, ref: \"busybox:1.0.0+b.1\"}}\n",
                         "an OCI reference NAME:VERSION"));
    parse_err("name: x\nversion: 1.0.0\nbase: {directory: [a]}\n", "3:19: 'base.directory' must be a string, not a list",
              "a list as a directory");

    /* strings, labels */
    parse_err(HEAD "labels: {\"\": x}\n", "4:10: 'labels' has an empty key", "an empty label key");
    parse_err(HEAD "labels: {\"a b\": x}\n", "4:10: 'labels': label key 'a b' must not contain white space",
              "a label key with a space");
    parse_err(HEAD "labels: {a: ~}\n", "4:13: 'labels.a' must be a string, not empty", "a null label");
    {
        struct buf b;
        buf_init(&b, 0);
        buf_adds(&b, HEAD "files: [{content: x, dest: /", NULL);
        for (int i = 0; i < 256; i++)
            buf_addch(&b, 'a', NULL);
        buf_adds(&b, "}]\n", NULL);
        parse_err(b.data, "4:28: 'files[0].dest' has a component longer than 255 characters", "a 256-character name");
        buf_reset(&b);
        buf_adds(&b, HEAD "files: [{content: x, dest: /", NULL);
        for (int i = 0; i < 42; i++)
            buf_adds(&b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", NULL);
        buf_adds(&b, "x}]\n", NULL);
        parse_err(b.data, "4:28: 'files[0].dest' is longer than 4095 characters", "a 4 KiB dest");
        buf_reset(&b);
        buf_adds(&b, HEAD "files: [{dest: /x, link: ", NULL);
        for (int i = 0; i < 4100; i++)
            buf_addch(&b, 'a', NULL);
        buf_adds(&b, "}]\n", NULL);
        parse_err(b.data, "4:26: 'files[0].link' is longer than 4095 characters", "a 4 KiB link target");
        buf_reset(&b);
        buf_adds(&b, HEAD "files: [{dest: /x, src: ", NULL);
        for (int i = 0; i < 4100; i++)
            buf_addch(&b, 'a', NULL);
        buf_adds(&b, "}]\n", NULL);
        parse_err(b.data, "4:25: 'files[0].src' is longer than 4095 characters", "a 4 KiB src");
        buf_release(&b);
    }

    /* files */
    parse_err(HEAD "files: [{content: x, dest: /a, mode: 644}]\n",
              "4:38: 'files[0].mode': mode 644 needs a leading 0 (write 0644", "a mode without a leading zero");
    parse_err(HEAD "files: [{content: x, dest: /a, mode: '755'}]\n",
              "4:38: 'files[0].mode': mode 755 needs a leading 0", "a quoted mode without a leading zero");
    parse_err(HEAD "files: [{content: x, dest: /a, mode: 010000}]\n",
              "4:38: 'files[0].mode': mode 010000 is larger than 07777", "a mode above 07777");
    parse_err(HEAD "files: [{content: x, dest: /a, mode: 0789}]\n",
              "4:38: 'files[0].mode': '0789' is not an octal mode", "a mode with 8 and 9");
    parse_err(HEAD "files: [{content: x, dest: /a, mode: rwxr-xr-x}]\n",
              "4:38: 'files[0].mode': 'rwxr-xr-x' is not an octal mode", "a symbolic mode");
    parse_err(HEAD "files: [{content: x, dest: /a, mode: 489}]\n", "4:38: 'files[0].mode': '489' is not an octal mode",
              "a decimal mode");
    {
        struct recipe *r = parse_ok(HEAD "files: [{content: x, dest: /a, mode: 0}, {content: x, dest: /b, mode: '00600'}]\n",
                                    "modes 0 and 00600");
        if (r) {
            is_int(r->files[0].mode, 0, "mode 0");
            is_int(r->files[1].mode, 0600, "mode 00600");
        }
        recipe_free(r);
    }
    parse_err(HEAD "files: [{content: x, dest: /a, mode: true}]\n", "4:38: 'files[0].mode' must be an octal mode",
              "a boolean mode");
    parse_err(HEAD "files: [{content: x, dest: /a/../b}]\n", "4:28: 'files[0].dest': '/a/../b' has a '..' component",
              "'..' in dest");
    parse_err(HEAD "files: [{content: x, dest: /..}]\n", "4:28: 'files[0].dest': '/..' has a '..' component",
              "dest '/..'");
    parse_err(HEAD "files: [{content: x, dest: etc/x}]\n", "4:28: 'files[0].dest' must be an absolute path",
              "a relative dest");
    parse_err(HEAD "files: [{content: x, dest: /./}]\n", "4:28: 'files[0].dest' must name a path below '/'",
              "dest '/'");
    parse_err(HEAD "files: [{content: x, src: y, dest: /a}]\n",
              "4:9: 'files[0]' must have exactly one of 'src', 'content' or 'link'", "src and content");
    parse_err(HEAD "files: [{dest: /a}]\n", "4:9: 'files[0]' must have exactly one of", "neither src nor content");
    parse_err(HEAD "files: [{link: x, dest: /a, mode: 0777}]\n", "4:35: 'files[0].mode': a symlink has no mode",
              "a mode on a link");
    parse_err(HEAD "files:\n  - {content: x, dest: /a}\n  - {content: y, dest: /b//a/../}\n",
              "6:24: 'files[1].dest': '/b//a/../' has a '..' component", "'..' after normalisation");
    parse_err(HEAD "files:\n  - {content: x, dest: /a}\n  - {content: y, dest: //a/}\n",
              "6:5: 'files[1]': dest '/a' is already given at line 5", "a duplicate dest");
    parse_err(HEAD "files: [{content: x, dest: /a, owner: 'root:'}]\n",
              "4:39: 'files[0].owner': 'root:' is not USER[:GROUP] or UID[:GID]", "an empty group");
    parse_err(HEAD "files: [{content: x, dest: /a, owner: 'Root'}]\n", "4:39: 'files[0].owner': 'Root' is not",
              "an upper-case owner");

    /* users */
    parse_err(HEAD "users: [{name: a, uid: -1}]\n", "4:24: 'users[0].uid' must be between 0 and 65533, not -1",
              "a negative uid");
    parse_err(HEAD "users: [{name: a, uid: 4294967296}]\n", "4:24: 'users[0].uid' must be between 0 and 65533",
              "a uid above 32 bits");
    parse_err(HEAD "users: [{name: a, uid: 99999999999999999999999}]\n", "4:24: 'users[0].uid' must be between",
              "an overflowing uid");
    parse_err(HEAD "users: [{name: a, uid: 0}]\n", "4:24: 'users[0].uid': uid 0 belongs to root", "uid 0 for another user");
    parse_err(HEAD "users: [{name: Bob}]\n", "4:16: 'users[0].name': 'Bob' is not a valid user or group name",
              "an upper-case user name");
    parse_err(HEAD "users: [{name: 1a}]\n", "4:16: 'users[0].name': '1a' is not a valid", "a user name starting with a digit");
    parse_err(HEAD "users: [{name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]\n", "4:16: 'users[0].name'", "a 33-character user name");
    parse_err(HEAD "users: [{name: a}, {name: a}]\n", "4:20: 'users[1]': user 'a' is already given at line 4",
              "a duplicate user");
    parse_err(HEAD "users: [{name: a, uid: 1000}, {name: b, uid: 1000}]\n",
              "4:31: 'users[1]': uid 1000 is already given to 'a'", "a duplicate uid");
    parse_err(HEAD "users: [{name: a, groups: [x, x]}]\n", "4:31: 'users[0].groups' lists 'x' twice", "a duplicate group");
    parse_err(HEAD "users: [{name: a, shell: \"/bin/a:b\"}]\n", "4:26: 'users[0].shell' must not contain ':'",
              "a shell with a colon");
    parse_err(HEAD "users: [{name: a, shell: bash}]\n", "4:26: 'users[0].shell' must be an absolute path", "a relative shell");
    parse_err(HEAD "users: [{name: a, ssh_authorized_keys: [\"ssh-rsa A\\nssh-rsa B\"]}]\n",
              "4:41: 'users[0].ssh_authorized_keys[0]' must be a single line", "a key with a newline");

    /* packages and services */
    parse_err(HEAD "packages: [curl, curl]\n", "4:18: 'packages' lists 'curl' twice", "a duplicate package");
    parse_err(HEAD "packages: [\"-oAPT::x\"]\n", "4:12: 'packages[0]': '-oAPT::x' is not a Debian package name",
              "an option as a package");
    parse_err(HEAD "packages: [\"a b\"]\n", "4:12: 'packages[0]': 'a b' is not a Debian package name", "a space in a package");
    parse_err(HEAD "services: {enable: [ssh], disable: [ssh]}\n", "4:37: service 'ssh' is both enabled and disabled",
              "a service enabled and disabled");
    parse_err(HEAD "services: {enable: [\"a b\"]}\n", "4:21: 'services.enable[0]': 'a b' is not a systemd unit name",
              "a bad unit name");
    parse_err(HEAD "services: {start: [x]}\n", "4:12: unknown key 'start' in 'services'", "an unknown services key");

    /* outputs */
    parse_err(HEAD "outputs: []\n", "4:10: 'outputs' must list at least one output", "no outputs");
    parse_err(HEAD "outputs: [oci, tar, oci]\n", "4:21: output 'oci' is listed twice", "a duplicate output");
    parse_err(HEAD "outputs: [qcow]\n", "4:11: unknown output type 'qcow' (did you mean 'qcow2'?)", "a misspelt output");
    parse_err(HEAD "outputs: [vmdk]\n", "4:11: unknown output type 'vmdk' (one of oci, tar, qcow2, raw)", "an unknown output");
    parse_err(HEAD "outputs: [{oci: {compression: xz}}]\n", "4:31: 'outputs[0].oci.compression' must be gzip or zstd",
              "bad compression");
    parse_err(HEAD "outputs: [{oci: {size: 1G}}]\n", "4:18: unknown key 'size' in 'outputs[0].oci'", "size on oci");
    parse_err(HEAD "outputs: [{raw: {compress: true}}]\n", "4:18: 'compress' applies to qcow2 outputs only", "compress on raw");
    parse_err(HEAD "outputs: [{qcow2: {size: 0}}]\n", "4:26: 'outputs[0].qcow2.size': size must not be 0", "size 0");
    parse_err(HEAD "outputs: [{qcow2: {size: 0G}}]\n", "4:26: 'outputs[0].qcow2.size': size must not be 0", "size 0G");
    parse_err(HEAD "outputs: [{qcow2: {size: 16777216T}}]\n", "4:26: 'outputs[0].qcow2.size': size '16777216T' is too large",
              "a size overflowing 64 bits");
    parse_err(HEAD "outputs: [{qcow2: {size: 18446744073709551616}}]\n", "4:26: 'outputs[0].qcow2.size': size", "2^64 bytes");
    parse_err(HEAD "outputs: [{qcow2: {size: 4GB}}]\n", "4:26: 'outputs[0].qcow2.size': '4GB' is not a size", "size 4GB");
    parse_err(HEAD "outputs: [{qcow2: {size: -1}}]\n", "4:26: 'outputs[0].qcow2.size': '-1' is not a size", "a negative size");
    parse_err(HEAD "outputs: [{qcow2: {size: G}}]\n", "4:26: 'outputs[0].qcow2.size': 'G' is not a size", "a unit alone");
    parse_err(HEAD "outputs: [{qcow2: {partition_table: dos}}]\n", "4:37: 'outputs[0].qcow2.partition_table' must be gpt or mbr",
              "a bad partition table");
    parse_err(HEAD "outputs: [{qcow2: {filesystem: xfs}}]\n", "4:32: 'outputs[0].qcow2.filesystem' must be ext4", "xfs");
    parse_err(HEAD "outputs: [{qcow2: {}, raw: {}}]\n", "4:11: 'outputs[0]' must be an output type, or a mapping of one",
              "two types in one item");
    parse_err(HEAD "outputs: [{qcow2: [1]}]\n", "4:19: 'outputs[0].qcow2' must be a mapping, not a list", "list options");
    parse_err(HEAD "boot_test: {timeout: 0}\n", "4:22: 'boot_test.timeout' must be between 1 and 86400", "boot timeout 0");
    parse_err(HEAD "boot_test: {marke: x}\n", "4:13: unknown key 'marke' in 'boot_test' (did you mean 'marker'?)",
              "a misspelt boot_test key");
}

static void test_hostile(void)
{
    parse_err("", "1:1: recipe is empty", "an empty file");
    parse_err("# only a comment\n", "1:1: recipe is empty", "only a comment");
    parse_err("hello\n", "1:1: a recipe must be a mapping of keys", "a scalar document");
    parse_err("- a\n", "1:1: a recipe must be a mapping of keys (name, version, base, ...), not a list", "a list document");
    recipe_free(parse_ok("\xef\xbb\xbfname: a\r\nversion: 0.1.0\r\nbase: {scratch: true}\r\n", "a BOM and CRLF"));
    parse_err("\xef\xbb\xbfname: a\nversion: 1\nbase: {scratch: true}\n", "2:10: version '1'", "positions after a BOM");
    parse_err(HEAD "name: y\n", "4:1: duplicate key 'name' (first given at line 1)", "a duplicate key");
    parse_err(HEAD "labels: {a: 1, b: 2, a: 3}\n", "4:22: duplicate key 'a' (first given at line 4)", "a duplicate label");
    parse_err(HEAD "---\nname: y\n", "4:1: a recipe is one YAML document; found a second one", "two documents");
    parse_err("a: &x [1]\n", "1:4: anchors and aliases are not supported in recipes ('&x')", "an anchor");
    parse_err("a: *x\n", "1:4: anchors and aliases are not supported in recipes ('*x')", "an alias");
    parse_err("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: [*b,*b]\n", "1:4: anchors and aliases are not supported",
              "billion laughs");
    parse_err(HEAD "description: !foo bar\n", "4:14: tag '!foo' is not supported in recipes", "a local tag");
    parse_err(HEAD "description: !!binary aGk=\n", "4:14: tag '!!binary' is not supported in recipes", "a !!binary tag");
    parse_err("name: !!python/object/apply:os.system [ls]\n", "1:7: tag '!!python/object/apply:os.system' is not supported",
              "a python tag");
    parse_err("%TAG !e! tag:evil.example,2000:\n---\nname: !e!x y\n", "3:7: tag 'tag:evil.example,2000:x' is not supported",
              "a tag directive");
    parse_err(HEAD "boot_test: {timeout: !!int ten}\n", "4:22: 'ten' is not a valid !!int", "a bad !!int");
    parse_err(HEAD "labels: !!map [a]\n", "4:9: tag '!!map' is not supported", "!!map on a list");
    parse_err(HEAD "sysprep: !!bool maybe\n", "4:10: 'maybe' is not a valid !!bool", "a bad !!bool");
    {
        struct recipe *r = parse_ok("name: !!str x\nversion: !!str 1.0.0\nbase: !!map {scratch: !!bool true}\n"
                                    "labels: {a: !!int 5}\nfiles: !!seq []\n", "core schema tags");
        if (r)
            is_str(r->labels[0].value, "5", "!!int label value");
        recipe_free(r);
    }
    parse_err(HEAD "labels: !!seq {a: b}\n", "4:9: tag '!!seq' is not supported", "!!seq on a mapping");
    parse_err(HEAD "labels: {1: x}\n", "4:10: mapping key '1' is not a string (quote it)", "an integer key");
    parse_err(HEAD "labels: {true: x}\n", "4:10: mapping key 'true' is not a string", "a boolean key");
    parse_err(HEAD "labels: {~: x}\n", "4:10: mapping key '~' is not a string", "a null key");
    parse_err(HEAD "? [a]\n: b\n", "4:3: a mapping key must be a string, not a list", "a list key");
    parse_err(HEAD "? {a: b}\n: c\n", "4:3: a mapping key must be a string, not a mapping", "a mapping key");
    parse_err(HEAD "labels: {\"a\\0b\": x}\n", "4:10: a mapping key contains a NUL byte", "a NUL in a key");
    parse_err(HEAD "description: \"a\\0b\"\n", "4:14: 'description' contains a NUL byte", "an escaped NUL");
    parse_err_n(HEAD "descr\0ption: x\n", sizeof(HEAD "descr\0ption: x\n") - 1, "4:6: recipe contains a NUL byte",
                "a raw NUL byte");
    parse_err(HEAD "description: \xff\n", "4:14: invalid YAML: invalid leading UTF-8 octet (byte 0xff)", "invalid UTF-8");
    parse_err(HEAD "description: caf\xc3\n", "4:18: invalid YAML: invalid trailing UTF-8 octet (byte 0x0a)", "truncated UTF-8");
    parse_err(HEAD "description: \xc3\x28\n", "4:15: invalid YAML: invalid trailing UTF-8 octet (byte 0x28)", "a bad continuation byte");
    parse_err(HEAD "description: \xed\xa0\x80\n", "4:14: invalid YAML: invalid Unicode character", "an encoded surrogate");
    parse_err(HEAD "description: \"\\ud800\"\n", "4:17: invalid YAML: found invalid Unicode character escape code", "an escaped surrogate");
    parse_err(HEAD "description: a\x01z\n", "4:15: invalid YAML: control characters are not allowed", "a control character");
    parse_err_n("\xff\xfen\0", 4, "1:4: recipe contains a NUL byte", "UTF-16");
    parse_err(HEAD "foo: [\n", "5:1: invalid YAML: did not find expected node content", "an unterminated list");
    parse_err(HEAD "a: b: c\n", "4:5: invalid YAML: mapping values are not allowed in this context", "a: b: c");
    parse_err(HEAD "\tname: y\n", "4:1: invalid YAML", "a tab indent");
    parse_err(HEAD "description: 'abc\n", "", "an unterminated quote");

    /* depth: 32 levels are fine, 33 are not */
    {
        char y[1024];
        size_t o = (size_t)snprintf(y, sizeof(y), "%slabels: ", HEAD);
        for (int i = 0; i < 31; i++)
            y[o++] = '[';
        for (int i = 0; i < 31; i++)
            y[o++] = ']';
        y[o++] = '\n';
        y[o] = '\0';
        parse_err(y, "4:9: 'labels' must be a mapping, not a list", "32 levels of nesting reach the schema");
        o = (size_t)snprintf(y, sizeof(y), "%slabels: ", HEAD);
        for (int i = 0; i < 32; i++)
            y[o++] = '[';
        y[o] = '\0';
        parse_err(y, "4:40: recipe is nested deeper than 32 levels", "33 levels of nesting");
    }
    {
        struct buf b;
        buf_init(&b, 0);
        buf_adds(&b, "labels:\n", NULL);
        for (int i = 0; i < 100; i++) {
            for (int s = 0; s <= i; s++)
                buf_adds(&b, "  ", NULL);
            buf_addf(&b, NULL, "k%d:\n", i);
        }
        parse_err(b.data, "33:65: recipe is nested deeper than 32 levels", "deep block nesting");
        buf_reset(&b);
        buf_adds(&b, HEAD "packages: [", NULL);
        for (int i = 0; i < RECIPE_MAX_NODES; i++)
            buf_adds(&b, "a,", NULL);
        buf_adds(&b, "]\n", NULL);
        parse_err(b.data, "4:", "more than RECIPE_MAX_NODES nodes");
        has_str(b.data, "a,a,", "the node bomb is real");
        buf_reset(&b);
        buf_adds(&b, HEAD "labels:\n", NULL);
        for (int i = 0; i < 20000; i++)
            buf_addf(&b, NULL, "  k%d: v\n", i);
        buf_adds(&b, "  k7: again\n", NULL);
        parse_err(b.data, "20005:3: duplicate key 'k7' (first given at line 12)", "a duplicate among 20000 keys");
        buf_reset(&b);
        buf_adds(&b, HEAD "packages:\n", NULL);
        for (int i = 0; i < 90000; i++)
            buf_addf(&b, NULL, "- p%d\n", i);
        buf_adds(&b, "- p5\n", NULL);
        parse_err(b.data, "90005:3: 'packages' lists 'p5' twice", "a duplicate among 90000 packages");
        buf_reset(&b);
        buf_adds(&b, HEAD "files:\n", NULL);
        for (int i = 0; i < 15000; i++)
            buf_addf(&b, NULL, "- {link: x, dest: /f%d}\n", i);
        buf_adds(&b, "- {link: y, dest: /f77/}\n", NULL);
        parse_err(b.data, "15005:3: 'files[15000]': dest '/f77' is already given at line 82",
                  "a duplicate among 15000 files");
        buf_reset(&b);
        buf_adds(&b, HEAD "users:\n", NULL);
        for (int i = 0; i < 15000; i++)
            buf_addf(&b, NULL, "- {name: u%d, uid: %d}\n", i, 1000 + i);
        buf_adds(&b, "- {name: x, uid: 1003}\n", NULL);
        parse_err(b.data, "15005:3: 'users[15000]': uid 1003 is already given to 'u3'", "a duplicate among 15000 uids");
        buf_reset(&b);
        while (b.len <= RECIPE_MAX_BYTES)
            buf_adds(&b, "# padding padding padding padding padding padding padding padding\n", NULL);
        struct recipe *r = NULL;
        struct kiln_err err = KILN_ERR_INIT;
        int rc = recipe_parse(b.data, b.len, "t.yaml", "/", &r, &err);
        ok(rc == KILN_EINVAL && !r, "rejects a recipe over RECIPE_MAX_BYTES");
        is_str(err.msg, "t.yaml: recipe is larger than 1048576 bytes", "size message");
        buf_release(&b);
    }
}

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(data, f);
        fclose(f);
    }
}

/* Loads path and checks its inputs, widened by ctx (may be NULL). */
static int check_in_context(const char *path, const char *ctx, struct kiln_err *err)
{
    struct recipe *r = NULL;
    int rc = recipe_load(path, &r, err);
    if (rc == 0 && ctx)
        rc = recipe_context_add(r, ctx, err);
    if (rc == 0)
        rc = recipe_check_inputs(r, err);
    recipe_free(r);
    return rc;
}

/* Host paths resolve, symlinks followed, inside the recipe's folder unless
 * the context is widened. */
static void test_context(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    mkdir("ctx", 0755);
    mkdir("ctx/proj", 0755);
    write_file("ctx/secret", "secret\n");
    write_file("ctx/proj/mine", "mine\n");
    char *secret = realpath("ctx/secret", NULL), *proj = realpath("ctx/proj", NULL);
    char *y = xasprintf("name: t\nversion: 0.1.0\nbase: {scratch: true}\nfiles:\n  - {src: mine, dest: /a}\n"
                        "  - {src: %s, dest: /b}\n", secret);
    write_file("ctx/proj/abs.yaml", y);
    free(y);
    is_int(check_in_context("ctx/proj/abs.yaml", NULL, &err), KILN_EINVAL, "an absolute src outside the folder is refused");
    char *want = xasprintf("ctx/proj/abs.yaml:6:11: files[1].src '%s' is outside the build context '%s' "
                           "(use --context to widen it)", secret, proj);
    is_str(err.msg, want, "naming the key, the path and the context");
    free(want);
    is_int(check_in_context("ctx/proj/abs.yaml", "ctx", &err), 0, "--context widens it: %s", err.msg);
    is_int(check_in_context("ctx/proj/abs.yaml", "ctx/proj/mine", &err), KILN_EINVAL, "a context must be a directory");
    has_str(err.msg, "is not a directory", "and says so");

    write_file("ctx/proj/up.yaml", "name: t\nversion: 0.1.0\nbase: {scratch: true}\nfiles: [{src: ../secret, dest: /b}]\n");
    is_int(check_in_context("ctx/proj/up.yaml", NULL, &err), KILN_EINVAL, "a ../ src is refused");
    has_str(err.msg, "files[0].src '", "naming the key");
    has_str(err.msg, "is outside the build context", "as outside the context");

    symlink(secret, "ctx/proj/link");
    write_file("ctx/proj/link.yaml", "name: t\nversion: 0.1.0\nbase: {scratch: true}\nfiles: [{src: link, dest: /b}]\n");
    is_int(check_in_context("ctx/proj/link.yaml", NULL, &err), KILN_EINVAL, "a symlink in the folder pointing out is refused");
    want = xasprintf("(it resolves to '%s') is outside the build context", secret);
    has_str(err.msg, want, "naming where it leads");
    free(want);
    symlink("mine", "ctx/proj/inner");
    write_file("ctx/proj/inner.yaml", "name: t\nversion: 0.1.0\nbase: {scratch: true}\nfiles: [{src: inner, dest: /b}]\n");
    is_int(check_in_context("ctx/proj/inner.yaml", NULL, &err), 0, "a symlink that stays inside is fine: %s", err.msg);

    static const char *const bases[] = { "directory: /", "directory: ..", "tarball: {path: ../secret}",
                                         "disk: {path: ../secret}", "oci: {layout: ..}",
                                         "debian: {suite: bookworm, mirror: 'file:///var'}" };
    static const char *const keys[] = { "base.directory '/'", "base.directory '", "base.tarball.path '",
                                        "base.disk.path '", "base.oci.layout '", "base.debian.mirror '/var'" };
    for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
        y = xasprintf("name: t\nversion: 0.1.0\nbase: {%s}\n", bases[i]);
        write_file("ctx/proj/base.yaml", y);
        free(y);
        is_int(check_in_context("ctx/proj/base.yaml", NULL, &err), KILN_EINVAL, "base '%s' outside is refused", bases[i]);
        has_str(err.msg, keys[i], "naming its key");
        has_str(err.msg, "is outside the build context", "as outside the context");
    }
    free(secret);
    free(proj);
}

static void test_load_and_inputs(void)
{
    char hex[HASH_HEX_LEN + 1];
    mkdir("sub", 0755);
    write_file("sub/rootfs.tar", "not really a tarball\n");
    write_file("sub/hello.txt", "hello\n");
    hash_sha256_hex("not really a tarball\n", 21, hex);
    char *y = xasprintf("name: t\nversion: 0.1.0\nbase:\n  tarball: {path: rootfs.tar, sha256: %s}\n"
                        "files: [{src: hello.txt, dest: /hello}]\n", hex);
    write_file("sub/good.yaml", y);
    free(y);
    struct recipe *r = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    int rc = recipe_load("sub/good.yaml", &r, &err);
    ok(rc == 0, "recipe_load reads a file: %s", err.msg);
    if (r) {
        char *want = xasprintf("%s/sub/rootfs.tar", tap_dir);
        char *real = realpath(want, NULL);
        is_str(r->base.path, real, "tarball path resolves against the recipe's folder");
        is_str(r->source, "sub/good.yaml", "source is the path as given");
        ok(r->path[0] == '/', "path is absolute");
        free(want);
        free(real);
        rc = recipe_check_inputs(r, &err);
        ok(rc == 0, "inputs match: %s", err.msg);
        write_file("sub/rootfs.tar", "tampered\n");
        rc = recipe_check_inputs(r, &err);
        ok(rc == KILN_EINVAL, "a changed tarball is refused");
        has_str(err.msg, "sub/good.yaml:4:19: base tarball '", "mismatch names the recipe position");
        has_str(err.msg, "rootfs.tar' has sha256 ", "mismatch names the path");
        has_str(err.msg, hex, "mismatch names the declared digest");
        unlink("sub/rootfs.tar");
        rc = recipe_check_inputs(r, &err);
        ok(rc == KILN_EINVAL, "a missing tarball is refused");
        has_str(err.msg, "rootfs.tar' cannot be read: No such file or directory", "missing tarball message");
        write_file("sub/rootfs.tar", "not really a tarball\n");
        unlink("sub/hello.txt");
        mkdir("sub/hello.txt", 0755);
        rc = recipe_check_inputs(r, &err);
        ok(rc == KILN_EINVAL, "a directory as a file's src is refused");
        has_str(err.msg, "sub/good.yaml:5:15: files[0].src '", "src error position");
        has_str(err.msg, "hello.txt' is not a regular file", "src error message");
        recipe_free(r);
    }

    write_file("sub/dir.yaml", "name: t\nversion: 0.1.0\nbase: {directory: nodir}\n");
    r = NULL;
    ok(recipe_load("sub/dir.yaml", &r, &err) == 0, "directory recipe loads");
    if (r) {
        ok(recipe_check_inputs(r, &err) == KILN_EINVAL, "a missing base directory is refused");
        has_str(err.msg, "sub/dir.yaml:3:19: base.directory '", "base directory message");
        mkdir("sub/nodir", 0755);
        ok(recipe_check_inputs(r, &err) == 0, "an existing base directory is fine");
        recipe_free(r);
    }
    write_file("sub/oci.yaml", "name: t\nversion: 0.1.0\nbase: {oci: {layout: nodir, ref: v1}}\n");
    r = NULL;
    ok(recipe_load("sub/oci.yaml", &r, &err) == 0, "oci recipe loads");
    if (r) {
        ok(recipe_check_inputs(r, &err) == KILN_EINVAL, "a directory that is not an OCI layout is refused");
        has_str(err.msg, "has no 'oci-layout' file", "oci layout message");
        write_file("sub/nodir/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
        ok(recipe_check_inputs(r, &err) == KILN_EINVAL, "a layout without index.json is refused");
        has_str(err.msg, "sub/oci.yaml:3:22: base OCI layout '", "no index.json message");
        has_str(err.msg, "has no valid index.json", "no index.json message says index.json");
        write_file("sub/nodir/index.json", "{\"manifests\": 3}");
        ok(recipe_check_inputs(r, &err) == KILN_EINVAL, "a layout with a bad index.json is refused");
        has_str(err.msg, "has no valid index.json", "bad index.json message");
        write_file("sub/nodir/index.json", "{\"schemaVersion\":2,\"manifests\":[{\"annotations\":"
                                           "{\"org.opencontainers.image.ref.name\":\"v1\"}}]}");
        ok(recipe_check_inputs(r, &err) == KILN_EINVAL, "an index entry that is not a descriptor is refused");
        has_str(err.msg, "descriptor has no valid 'mediaType'", "bad descriptor message");
#define DESC_V(tag) "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," \
                    "\"digest\":\"sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "\"," \
                    "\"size\":2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"" tag "\"}}]}"
        write_file("sub/nodir/index.json", DESC_V("v2"));
        ok(recipe_check_inputs(r, &err) == KILN_EINVAL, "a layout without the ref is refused");
        has_str(err.msg, "has no image named 'v1'", "missing ref message");
        write_file("sub/nodir/index.json", DESC_V("v1"));
#undef DESC_V
        ok(recipe_check_inputs(r, &err) == 0, "an OCI layout with the ref is fine: %s", err.msg);
        recipe_free(r);
    }
    test_context();
    r = NULL;
    rc = recipe_load("sub/nosuch.yaml", &r, &err);
    ok(rc == KILN_EINVAL && !r, "a missing recipe is invalid input");
    is_str(err.msg, "recipe 'sub/nosuch.yaml' does not exist", "missing recipe message");
    rc = recipe_load("sub", &r, &err);
    ok(rc < 0 && !r, "a directory is not a recipe");
}

/* One image with a unique config, for store_image_add. */
static int put_image(struct store *st, size_t i, char digest[DIGEST_STR_SIZE], struct kiln_err *err)
{
    char cfg[DIGEST_STR_SIZE], layer[DIGEST_STR_SIZE];
    _cleanup_free_ char *c = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":%zu}", i);
    if (store_blob_put(st, c, strlen(c), cfg, err) < 0 || store_blob_put(st, "x", 1, layer, err) < 0)
        return -1;
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_TAR "\",\"digest\":\"%s\",\"size\":1}]}",
        cfg, strlen(c), layer);
    return store_blob_put(st, m, strlen(m), digest, err);
}

/* What `kiln check` accepts in a recipe (name, version), what the command
 * line accepts (NAME:VERSION, --channel) and what the store accepts are the
 * same, case by case: one validator behind all three. */
static void test_recipe_and_store_agree(void)
{
    static const struct {
        const char *name, *version, *channel;
        int name_ok, version_ok, channel_ok;
    } cases[] = {
        { "web", "1.0.0", "stable", 1, 1, 1 },
        { "web.app_1-x", "2.1.0-rc.1", "nightly", 1, 1, 1 },
        { "0web", "0.0.0", "a.b_c-d", 1, 1, 1 },
        { "web", "1.0.0-0.3.7", "beta2", 1, 1, 1 },
        { "web", "1.2.0-nightly.20261123.7", "nightly", 1, 1, 1 },
        { "web", "1.0.0-x-y-z.--", "s", 1, 1, 1 },
        { "web", "1.0.0+build.1", "stable", 1, 0, 1 },     /* build metadata: no '+' in a reference */
        { "web", "1.0.0-beta+exp.sha.5114f85", "stable", 1, 0, 1 },
        { "web", "1.0.0+", "stable", 1, 0, 1 },
        { "web", "1.0", "stable", 1, 0, 1 },
        { "web", "v1.0.0", "stable", 1, 0, 1 },
        { "web", "01.0.0", "stable", 1, 0, 1 },
        { "web", "1.0.0-01", "stable", 1, 0, 1 },
        { "web", "1.0.0-a..b", "stable", 1, 0, 1 },
        { "web", "1.0.0-a_b", "stable", 1, 0, 1 },
        { "web", "1.0.0.0", "stable", 1, 0, 1 },
        { "web", "1234567890123456789.0.0", "stable", 1, 0, 1 }, /* past 18 digits */
        { "Web", "1.0.0", "stable", 0, 1, 1 },
        { "-web", "1.0.0", "stable", 0, 1, 1 },
        { "web/x", "1.0.0", "stable", 0, 1, 1 },
        { "web:x", "1.0.0", "stable", 0, 1, 1 },
        { "web", "1.0.0", "Stable", 1, 1, 0 },
        { "web", "1.0.0", "1.0.0", 1, 1, 0 },              /* a version is not a channel */
        { "web", "1.0.0", "-beta", 1, 1, 0 },
    };
    struct kiln_err err = KILN_ERR_INIT;
    struct store *st = NULL;
    if (!ok(store_open("agree-store", STORE_CREATE, &st, &err) == 0, "a store for the agreement table")) {
        diag("%s", err.msg);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *name = cases[i].name, *version = cases[i].version, *channel = cases[i].channel;
        int want_image = cases[i].name_ok && cases[i].version_ok;
        int want_channel = cases[i].name_ok && cases[i].channel_ok;
        int want_all = want_image && cases[i].channel_ok;
        /* the recipe (kiln check, kiln build) */
        _cleanup_free_ char *yaml = xasprintf("name: \"%s\"\nversion: \"%s\"\nbase: {scratch: true}\n", name, version);
        struct recipe *r = NULL;
        int recipe_ok = recipe_parse(yaml, strlen(yaml), "t.yaml", "/recipes", &r, &err) == 0;
        recipe_free(r);
        /* the command line: NAME:VERSION and NAME:CHANNEL references */
        _cleanup_free_ char *vref = xasprintf("%s:%s", name, version);
        _cleanup_free_ char *cref = xasprintf("%s:%s", name, channel);
        struct image_ref ref;
        int vref_ok = image_ref_parse(vref, &ref, &err) == 0 && ref.kind == REF_VERSION;
        image_ref_release(&ref);
        int cref_ok = image_ref_parse(cref, &ref, &err) == 0 && ref.kind == REF_CHANNEL;
        image_ref_release(&ref);
        /* the store */
        char digest[DIGEST_STR_SIZE];
        int store_ok = 0;
        if (put_image(st, i, digest, &err) == 0) {
            struct store_image img = { .name = (char *)name, .version = (char *)version,
                                       .digest = digest, .channel = (char *)channel };
            int rc = store_image_add(st, &img, 0, NULL, &err);
            store_ok = rc == 0;
            if (rc < 0 && rc != KILN_EINVAL)
                diag("store_image_add: %s", err.msg);
        }
        ok(recipe_ok == want_image && vref_ok == want_image && cref_ok == want_channel && store_ok == want_all,
           "'%s' '%s' '%s': recipe %d, NAME:VERSION %d, NAME:CHANNEL %d, store %d (want %d %d %d %d)", name,
           version, channel, recipe_ok, vref_ok, cref_ok, store_ok, want_image, want_image, want_channel, want_all);
    }
    store_close(st);
}

static void test_debian(void)
{
    struct recipe *r = parse_ok("name: d\nversion: 1.0.0\nbase:\n  debian:\n    suite: bookworm\n"
                                "    components: [main, contrib]\n"
                                "    suites: [bookworm-updates, {suite: bookworm-security, mirror: "
                                "\"http://deb.debian.org/debian-security\"}]\n"
                                "    keyring: keys/mirror.gpg\n",
                                "a debian base with components, extra suites and a keyring");
    if (r) {
        is_int(r->base.components.n, 2, "two components");
        is_str(r->base.components.v[1], "contrib", "in order");
        is_int(r->base.n_suites, 2, "two extra suites");
        is_str(r->base.suites[0].suite, "bookworm-updates", "a suite by name");
        ok(r->base.suites[0].mirror == NULL, "on the base's mirror");
        is_str(r->base.suites[1].mirror, "http://deb.debian.org/debian-security", "a suite with its mirror");
        is_str(r->base.keyring, "/recipes/keys/mirror.gpg", "the keyring resolves against the recipe");
        ok(r->base.snapshot == NULL, "no snapshot");
        recipe_free(r);
    }
    r = parse_ok("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, snapshot: 20250520T000000Z}\n",
                 "a snapshot alone");
    if (r) {
        is_str(r->base.mirror, "http://snapshot.debian.org/archive/debian/{timestamp}", "takes snapshot.debian.org");
        is_str(r->base.components.v[0], "main", "components default to main");
        recipe_free(r);
    }
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, snapshot: 2025-05-20}\n",
              "4:39: 'base.debian.snapshot': '2025-05-20' is not a snapshot time", "a snapshot in another form");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, snapshot: 20251320T000000Z}\n",
              "4:39: 'base.debian.snapshot': '20251320T000000Z' is not a snapshot time", "month 13");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, snapshot: 20250520T000000Z, "
              "mirror: \"http://deb.debian.org/debian\"}\n",
              "4:39: 'base.debian.snapshot' needs a 'mirror' URL template with {timestamp}", "a snapshot on a mirror without {timestamp}");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, mirror: \"http://m/{timestamp}\"}\n",
              "4:11: 'base.debian': a mirror URL template with {timestamp} needs 'snapshot'", "a template without a snapshot");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, mirror: \"http://m/{ts}\"}\n",
              "4:37: 'base.debian.mirror': '{timestamp}' is the only placeholder", "another placeholder");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, suites: [bookworm, x]}\n",
              "4:38: 'base.debian.suites[0]': 'bookworm' is the base's suite already", "the base's suite again");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, suites: [a-b, a-b]}\n",
              "4:43: 'base.debian.suites' lists 'a-b' twice", "a suite twice");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, suites: [{mirror: \"http://m\"}]}\n",
              "4:38: 'base.debian.suites[0]' is missing the required key 'suite'", "a suite map without its suite");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, components: []}\n",
              "4:41: 'base.debian.components' must name at least one component", "no components");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, components: [\"main/\"]}\n",
              "4:42: 'base.debian.components[0]': 'main/' is not an archive component", "a component ending in '/'");
    parse_err("name: d\nversion: 1.0.0\nbase:\n  debian: {suite: bookworm, mirror: \"http://m/[trusted=yes]\"}\n",
              "4:37: 'base.debian.mirror' must not contain spaces, quotes or brackets", "apt options smuggled into a mirror");
}

/* cloud_init: true: the packages go into a debian base's bootstrap, else
 * into packages; one the recipe lists, in either and at any version, is
 * not added again. */
static void test_cloud_init(void)
{
    struct recipe *r = parse_ok(HEAD, "no cloud_init");
    if (r) {
        is_int(r->cloud_init, 0, "cloud_init defaults to false");
        is_int(r->packages.n, 0, "and adds nothing");
        recipe_free(r);
    }
    r = parse_ok("name: x\nversion: 1.0.0\nbase: {debian: {suite: bookworm, packages: [sudo]}}\n"
                 "packages: [\"cloud-init=22.4.2-1\"]\ncloud_init: true\n",
                 "cloud_init with a debian base");
    if (r) {
        is_int(r->cloud_init, 1, "cloud_init true");
        is_int(r->packages.n, 1, "packages keeps what it had");
        is_int(r->base.packages.n, 4, "the bootstrap gets the rest");
        is_str(r->base.packages.v[0], "sudo", "the recipe's own first");
        is_str(r->base.packages.v[1], "cloud-guest-utils", "then growpart");
        is_str(r->base.packages.v[2], "ifupdown", "then ifupdown");
        is_str(r->base.packages.v[3], "openssh-server", "and sshd");
        ok(r->n_files == 1 && strcmp(r->files[0].dest, "/etc/default/locale") == 0 && r->files[0].content &&
           strcmp(r->files[0].content, "LANG=C.UTF-8\n") == 0 && r->files[0].mode == 0644,
           "and files gets /etc/default/locale with LANG=C.UTF-8");
        json_t *j = recipe_to_json(r);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        has_str(s, "\"cloud_init\":true", "json: cloud_init");
        free(s);
        json_decref(j);
        recipe_free(r);
    }
    r = parse_ok("name: x\nversion: 1.0.0\nbase: {tarball: {path: r.tar}}\n"
                 "packages: [cloud-init-extra, \"sudo:amd64\"]\ncloud_init: true\n",
                 "cloud_init with a tarball base");
    if (r) {
        is_int(r->packages.n, 6, "packages gets cloud-init, growpart, ifupdown and sshd");
        is_str(r->packages.v[2], "cloud-init", "a longer name is another package");
        is_str(r->packages.v[4], "ifupdown", "in order");
        ok(recipe_needs_guest(r), "which needs the appliance");
        recipe_free(r);
    }
    r = parse_ok("name: x\nversion: 1.0.0\nbase: {tarball: {path: r.tar}}\ncloud_init: true\n"
                 "files: [{content: \"LANG=fr_FR.UTF-8\\n\", dest: /etc/default/locale}]\n",
                 "cloud_init with the recipe's own locale");
    if (r) {
        ok(r->n_files == 1 && strcmp(r->files[0].content, "LANG=fr_FR.UTF-8\n") == 0,
           "the recipe's /etc/default/locale is kept, not replaced");
        recipe_free(r);
    }
    parse_err(HEAD "cloud_init: yes\n", "4:13: 'cloud_init' must be true or false", "yes for cloud_init");
    parse_err(HEAD "cloudinit: true\n", "4:1: unknown key 'cloudinit' (did you mean 'cloud_init'?)",
              "a misspelt cloud_init");
}

int main(void)
{
    tap_tmpdir();
    test_cloud_init();
    test_full();
    test_defaults();
    test_errors();
    test_debian();
    test_hostile();
    test_load_and_inputs();
    test_recipe_and_store_agree();
    return tap_done();
}
