/* cmd-login.c - kiln login HOST[:PORT]: check credentials against a registry,
 * then write them into the docker config.json push and pull read
 * (cli_registry_auth_file()). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/fsutil.h"
#include "registry/registry.h"
#include "common/banned.h"

#define LOGIN_SECRET_LIMIT 4096

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Reads a line from the terminal after prompt; echo off when secret. */
static int tty_read(const char *prompt, int secret, char **out, struct kiln_err *err)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return kiln_errf(err, KILN_EINVAL, "no terminal to ask for the %s: give --username and --password-stdin",
                         secret ? "password" : "user name");
    FILE *f = fdopen(fd, "r+");
    if (!f) {
        close(fd);
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open the terminal");
    }
    struct termios old, quiet;
    int restore = 0;
    if (secret && tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    fputs(prompt, f);
    fflush(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        fputs("\n", f);
    }
    fclose(f);
    if (n < 0) {
        free(line);
        return kiln_errf(err, KILN_EINVAL, "no %s given on the terminal", secret ? "password" : "user name");
    }
    chomp(line);
    *out = line;
    return 0;
}

static int stdin_secret(char **out, struct kiln_err *err)
{
    struct buf b BUF_CLEANUP = BUF_INIT;
    int r = fs_read_fd(0, "standard input", LOGIN_SECRET_LIMIT, &b, err);
    if (r < 0)
        return r;
    char *s = xstrndup(b.data ? b.data : "", b.len);
    if (b.data)
        explicit_bzero(b.data, b.len);
    if (strlen(s) != b.len) {
        free(s);
        return kiln_errf(err, KILN_EINVAL, "the password on standard input holds a NUL byte");
    }
    chomp(s);
    *out = s;
    return 0;
}

CLI_COMMAND(login)
{
    enum { OPT_USER = 1, OPT_STDIN, OPT_CA, OPT_INSECURE };
    static const struct option opts[] = {
        { "username", required_argument, NULL, OPT_USER },
        { "password-stdin", no_argument, NULL, OPT_STDIN },
        { "ca-file", required_argument, NULL, OPT_CA },
        { "insecure", no_argument, NULL, OPT_INSECURE },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    const char *user_arg = NULL;
    int pw_stdin = 0, insecure = 0, c;
    struct registry_opts conn = { 0 };
    while ((c = getopt_long(argc, argv, "u:", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
        case OPT_USER:
            user_arg = optarg;
            break;
        case OPT_STDIN:
            pw_stdin = 1;
            break;
        case OPT_CA:
            conn.ca_file = optarg;
            break;
        case OPT_INSECURE:
            insecure = 1;
            break;
        default: {
            int h = cli_common_opt(ctx, "login", c, optarg);
            if (h < 0)
                return 0;
            if (!h)
                return cli_usage_error("login", "unknown option");
        }
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("login", "login takes one registry HOST[:PORT]");
    if (pw_stdin && !user_arg)
        return cli_usage_error("login", "--password-stdin needs --username");
    const char *host_s = argv[optind];
    struct kiln_err err = KILN_ERR_INIT;
    struct registry_ref reg;
    if (registry_host_parse(host_s, insecure, &reg, &err) < 0)
        return cli_fail(&err);
    if (conn.ca_file && reg.plain_http) {
        registry_ref_release(&reg);
        return cli_usage_error("login", "--ca-file is for HTTPS; '%s' is plain HTTP", host_s);
    }
    _cleanup_free_ char *file = cli_registry_auth_file();
    char *user = NULL, *password = NULL;
    int r = 0;
    if (!file)
        r = kiln_errf(&err, KILN_EINVAL, "no credentials file: set $REGISTRY_AUTH_FILE, $DOCKER_CONFIG or $HOME");
    if (r == 0)
        r = user_arg ? (user = xstrdup(user_arg), 0) : tty_read("Username: ", 0, &user, &err);
    if (r == 0)
        r = pw_stdin ? stdin_secret(&password, &err) : tty_read("Password: ", 1, &password, &err);
    if (r == 0 && (!user[0] || strchr(user, ':')))
        r = kiln_errf(&err, KILN_EINVAL, "user name '%s' is empty or holds a ':'", user);
    if (r == 0 && !password[0])
        r = kiln_errf(&err, KILN_EINVAL, "the password is empty");
    conn.user = user;
    conn.password = password;
    if (r == 0)
        r = registry_login(reg.host, reg.plain_http, &conn, &err);
    if (r == 0) {
        /* ~/.docker is made private; a directory named by the environment must exist */
        _cleanup_free_ char *dir = path_dirname(file);
        const char *raf = getenv("REGISTRY_AUTH_FILE"), *dc = getenv("DOCKER_CONFIG");
        if (!(raf && raf[0]) && !(dc && dc[0]))
            r = fs_mkdir_p(dir, 0700, &err);
        if (r == 0)
            r = registry_creds_store(file, reg.host, user, password, &err);
    }
    if (r == 0) {
        if (ctx->json)
            cli_print_json(json_pack("{s:s,s:s,s:s}", "registry", reg.host, "username", user, "file", file));
        else
            printf("logged in to %s as %s (credentials in %s)\n", reg.host, user, file);
    }
    cli_registry_creds_free(user, password);
    registry_ref_release(&reg);
    return r < 0 ? cli_fail(&err) : 0;
}
