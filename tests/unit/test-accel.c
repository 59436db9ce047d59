/* test-accel.c - the KVM/TCG decision. */
#include "boot/accel.h"
#include "common/common.h"
#include "tests/unit/tap.h"

static void test_parse(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    enum accel_mode m = ACCEL_MODE_KVM;
    is_int(accel_parse_mode(NULL, &m, &err), 0, "no setting parses");
    is_int(m, ACCEL_MODE_AUTO, "no setting means auto");
    is_int(accel_parse_mode("", &m, &err), 0, "an empty setting parses");
    is_int(m, ACCEL_MODE_AUTO, "an empty setting means auto");
    accel_parse_mode("kvm", &m, &err);
    is_int(m, ACCEL_MODE_KVM, "kvm parses");
    accel_parse_mode("tcg", &m, &err);
    is_int(m, ACCEL_MODE_TCG, "tcg parses");
    is_int(accel_parse_mode("hvf", &m, &err), KILN_EINVAL, "an unknown accelerator is invalid input");
    has_str(err.msg, "'hvf'", "the error names the value");
}

static void test_decide(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    enum accel a;
    int warn;

    is_int(accel_decide(ACCEL_MODE_AUTO, 1, &a, &warn, &err), 0, "auto with working KVM");
    is_int(a, ACCEL_KVM, "auto uses a working KVM");
    is_int(warn, 0, "and says nothing");

    is_int(accel_decide(ACCEL_MODE_AUTO, 0, &a, &warn, &err), 0, "auto with broken KVM does not fail");
    is_int(a, ACCEL_TCG, "auto falls back to TCG");
    is_int(warn, 1, "and warns");

    is_int(accel_decide(ACCEL_MODE_TCG, 1, &a, &warn, &err), 0, "tcg forced");
    is_int(a, ACCEL_TCG, "tcg forced uses TCG even when KVM works");
    is_int(warn, 0, "without a warning");

    is_int(accel_decide(ACCEL_MODE_TCG, -1, &a, &warn, &err), 0, "tcg forced needs no probe");
    is_int(a, ACCEL_TCG, "tcg without probing");

    is_int(accel_decide(ACCEL_MODE_KVM, 1, &a, &warn, &err), 0, "kvm forced and working");
    is_int(a, ACCEL_KVM, "uses KVM");

    kiln_err_clear(&err);
    is_int(accel_decide(ACCEL_MODE_KVM, 0, &a, &warn, &err), KILN_EFAIL, "kvm forced but broken fails");
    has_str(err.msg, "KVM does not work", "the error says why");
}

static void test_get_tcg(void)
{
    struct kiln_err err = KILN_ERR_INIT;
    enum accel a = ACCEL_KVM;
    accel_configure(&(struct accel_opts){ ACCEL_MODE_TCG, NULL });
    is_int(accel_get(&a, &err), 0, "accel_get with tcg forced");
    is_int(a, ACCEL_TCG, "returns TCG without probing");
    is_str(accel_name(a), "tcg", "its name is tcg");
    accel_configure(&(struct accel_opts){ ACCEL_MODE_AUTO, NULL });
}

int main(void)
{
    tap_tmpdir();
    test_parse();
    test_decide();
    test_get_tcg();
    return tap_done();
}
