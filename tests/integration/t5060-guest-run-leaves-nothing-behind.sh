#!/bin/bash
# A run command goes through the appliance, where libguestfs binds the
# appliance's /dev, /proc and /sys into the image while it runs.  Nothing of
# that may reach the image: a process the command leaves running is stopped
# (with a warning) so that the build still finishes, the image holds only its
# own empty /dev, /proc and /sys, and two builds in two fresh stores give the
# same digest.  Slow: two appliance runs under emulation.
. "$(dirname "$0")/lib.sh"

# A busybox image whose shell finds busybox's own timeout and sleep applets.
busybox_root root sh cat echo sleep timeout
mkdir root/dev root/proc root/sys
tar -C root --owner=0 --group=0 --mtime=@1700000000 -cf base.tar .
cat >r.yaml <<-YAML
name: leftover
version: 1.0.0
base:
  tarball: {path: base.tar}
run:
  - sleep 600 </dev/null >/dev/null 2>&1 &
  - echo second > /etc/second
outputs: [oci]
YAML

test_expect_success 'a command that leaves a process running: the build stops it, says so and goes on' '
    kiln build r.yaml >out 2>err &&
    test_grep "^leftover:1.0.0@sha256:" out &&
    test_grep "command .sleep 600.* left 1 process(es) running in the image; they were stopped" err &&
    test "$(grep -c "left .* process" err)" = 1
'

test_expect_success 'the later command ran, and the image holds nothing of the appliance' '
    image_paths leftover:1.0.0 >paths &&
    test_grep -x /etc/second paths &&
    ! grep -E "^/(dev|proc|sys)/" paths &&
    test_grep -x /dev paths && test_grep -x /proc paths && test_grep -x /sys paths
'

test_expect_success 'the same recipe built in another fresh store gives the same digest' '
    d1=$(sed -n "s/^leftover:1.0.0@//p" out) &&
    KILN_STORE="$TEST_DIR/store2" kiln build r.yaml >out2 2>err2 &&
    test "$(sed -n "s/^leftover:1.0.0@//p" out2)" = "$d1"
'

test_done
