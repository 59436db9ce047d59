# cache-lib.sh - what the build cache tests share: a small recipe and a
# verbose build that keeps its step lines.  Source after lib.sh.

# cache_setup: ./base.tar (a root with /etc/passwd), ./payload.txt ("one")
# and ./c.yaml: files (payload.txt), hostname, a label (tier: a), oci and tar
# outputs: 5 steps, 3 cache entries (the tree after hostname, each output).
cache_setup() {
    mkdir -p root/etc &&
    echo "root:x:0:0:root:/root:/bin/sh" >root/etc/passwd &&
    tar -C root -cf base.tar . &&
    echo "one" >payload.txt &&
    cat >c.yaml <<'YAML'
name: c
version: 1.0.0
base:
  tarball:
    path: base.tar
files:
  - src: payload.txt
    dest: /srv/payload.txt
hostname: c
labels:
  tier: a
outputs: [oci, tar]
YAML
}

# cache_build ARGS...: kiln build c.yaml --verbose ARGS into $KILN_STORE; the
# reference in ./ref, stderr in ./log, the step lines (not the key lines) in ./steps.
cache_build() {
    kiln build c.yaml --verbose "$@" >ref 2>log &&
    grep "^step " log | grep -v ": key " >steps
}
