# registry-lib.sh - Debian's docker-registry on 127.0.0.1, started by the test
# and stopped at its exit.  Source after lib.sh.

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_answers URL...: waits up to 10 s until one of the URLs answers over
# HTTP (polled in a child shell that timeout(1) bounds).
wait_answers() {
    timeout 10 sh -c '
        while :; do
            for u in "$@"; do curl -sk -o /dev/null "$u" && exit 0; done
            sleep 0.1
        done' sh "$@"
}

# Every server started below writes NAME.pid in $TEST_DIR; all stop at exit.
test_on_exit 'for _p in "$TEST_DIR"/*.pid; do [ -f "$_p" ] && kill "$(cat "$_p")" 2>/dev/null; done'

# start_registry NAME PORT [YAML [STORAGE_YAML]]: docker-registry with its
# storage in ./NAME.data, listening on 127.0.0.1:PORT; YAML (more lines under
# `http:`, then top-level keys such as `auth:`) is appended to the
# configuration, STORAGE_YAML goes under `storage:`.  Waits until it answers.
start_registry() {
    cat >"$TEST_DIR/$1.yml" <<EOF &&
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $TEST_DIR/$1.data
  delete:
    enabled: true
${4:-}
http:
  addr: 127.0.0.1:$2
  secret: kiln-test-secret
${3:-}
EOF
    { setsid docker-registry serve "$TEST_DIR/$1.yml" >>"$TEST_DIR/$1.log" 2>&1 & } &&
    echo $! >"$TEST_DIR/$1.pid" &&
    {
        wait_answers "http://127.0.0.1:$2/v2/" "https://127.0.0.1:$2/v2/" || {
            echo "registry $1 did not start:" >&2 &&
            cat "$TEST_DIR/$1.log" >&2 &&
            return 1
        }
    }
}

# start_tls_registry NAME PORT USER:PASSWORD: start_registry over TLS with
# htpasswd auth that knows USER with PASSWORD; its certificate (for
# 127.0.0.1) is NAME.crt in $TEST_DIR, for --ca-file.
start_tls_registry() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_DIR/$1.key" -out "$TEST_DIR/$1.crt" -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null &&
    python3 -W ignore -c "import crypt, sys; u, p = sys.argv[1].split(':', 1); print(u + ':' + crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))" \
        "$3" >"$TEST_DIR/$1.htpasswd" &&
    start_registry "$1" "$2" "  tls:
    certificate: $TEST_DIR/$1.crt
    key: $TEST_DIR/$1.key
auth:
  htpasswd:
    realm: kiln-test
    path: $TEST_DIR/$1.htpasswd"
}

# start_drop_proxy NAME PORT TARGET_PORT N [BYTES|503|stall|answer:BYTES [MARKER]]:
# a TCP proxy on 127.0.0.1:PORT to TARGET_PORT that spoils the Nth request
# starting with MARKER (default "PATCH /v2/"): it cuts the connection after
# passing BYTES of the request on (default 0: the registry sees nothing of
# it), with 503 answers "503 Service Unavailable" itself, with stall holds
# the request (the registry sees nothing of it) until the file NAME.go
# exists, then cuts the connection, with answer:BYTES passes the request on
# and cuts the connection after BYTES of the answer.  It writes NAME.dropped when it does.  A connection it
# cannot pass on (the registry is down) is closed at once.
start_drop_proxy() {
    cat >"$TEST_DIR/$1.py" <<'EOF' &&
import os, socket, sys, threading, time
port, target, nth, flag, how, marker = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                                        sys.argv[5], sys.argv[6].encode())
answer = int(how[7:]) if how.startswith("answer:") else None
keep = 0 if how in ("503", "stall") or answer is not None else int(how)
seen = [0]
lock = threading.Lock()

def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

def pipe(src, dst, watch, cut):
    tail = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if not watch and cut[0] is not None:
                if len(data) >= cut[0]:
                    dst.sendall(data[:cut[0]])
                    open(flag, "w").write("dropped\n")
                    break
                cut[0] -= len(data)
            if watch:
                window = tail + data
                n = window.count(marker)
                drop = False
                with lock:
                    if seen[0] < nth <= seen[0] + n:
                        drop = True
                    seen[0] += n
                if drop and answer is not None:
                    cut[0] = answer
                elif drop:
                    # pass on the request up to BYTES past its start, then cut
                    start = window.find(marker) - len(tail)
                    while len(data) < start + keep:
                        more = src.recv(65536)
                        if not more:
                            break
                        data += more
                    if how == "503":
                        src.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                                    b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                    elif start + keep > 0:
                        dst.sendall(data[:start + keep])
                    open(flag, "w").write("dropped\n")
                    if how == "stall":
                        while not os.path.exists(flag[:-len(".dropped")] + ".go"):
                            time.sleep(0.1)
                    break
                tail = window[-(len(marker) - 1):]
            dst.sendall(data)
    except OSError:
        pass
    close(src, dst)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
while True:
    c, _ = srv.accept()
    try:
        u = socket.create_connection(("127.0.0.1", target))
    except OSError:
        close(c)
        continue
    cut = [None]
    threading.Thread(target=pipe, args=(c, u, True, cut), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, False, cut), daemon=True).start()
EOF
    { setsid python3 "$TEST_DIR/$1.py" "$2" "$3" "$4" "$TEST_DIR/$1.dropped" "${5:-0}" "${6:-PATCH /v2/}" >"$TEST_DIR/$1.log" 2>&1 & } &&
    echo $! >"$TEST_DIR/$1.pid" &&
    wait_answers "http://127.0.0.1:$2/v2/"
}

# start_token_service NAME PORT ANSWER USER:PASSWORD: an HTTP token service on
# 127.0.0.1:PORT that answers GET with the file ANSWER to requests carrying
# Basic USER:PASSWORD, and 401 with a registry error body to any other; it
# logs each request's path and query in NAME.requests.
start_token_service() {
    cat >"$TEST_DIR/$1.py" <<'EOF' &&
import base64, http.server, sys
port, answer, log = int(sys.argv[1]), open(sys.argv[2], "rb").read(), sys.argv[3]
want = "Basic " + base64.b64encode(sys.argv[4].encode()).decode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(log, "a").write(self.path + "\n")
        ok = self.headers.get("Authorization") == want
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer if ok else b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
    { setsid python3 "$TEST_DIR/$1.py" "$2" "$3" "$TEST_DIR/$1.requests" "$4" >"$TEST_DIR/$1.log" 2>&1 & } &&
    echo $! >"$TEST_DIR/$1.pid" &&
    wait_answers "http://127.0.0.1:$2/"
}
