/*
 * test_hv_view.c — the window's snapshot of a machine under the built-in
 * hypervisor in posted mode (emu_hv_machine_ops, attached as the machine
 * does): every vCPU's VMCS controls, notification vector and descriptor
 * are found through m->hv, and the recorder sees the VMX events; the
 * picture shows them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <SDL.h>

#include "emu/emu_hv.h"
#include "ui/ui.h"
#include "vmx/vmx_root.h"

static vmx_vcpu *lookup(emu_machine *m, unsigned k)
{
    emu_hv *hv = m->hv;
    return hv && k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

START_TEST(posted_mode_snapshot)
{
    emu_machine *m = calloc(1, sizeof(*m));
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/hv_irq.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = 2;
    cfg.max_cycles = 400000000ull;
    cfg.mode = EMU_MODE_POSTED;
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    ck_assert_ptr_nonnull(m->hv); /* attached by emu_machine_init */
    ui_recorder rec;
    ui_recorder_init(&rec, m);
    ck_assert(cpu_obs_subscribe(&m->obs, ui_recorder_event, &rec));
    emu_hv_run_machine(m->hv, 3000000);

    ui_snapshot *s = calloc(1, sizeof(*s));
    ui_snapshot_take(s, m, &rec, lookup);
    ck_assert_uint_eq(s->ncpus, 2);
    for (unsigned k = 0; k < 2; k++) {
        const ui_cpu_snap *c = &s->cpu[k];
        ck_assert(c->has_vmx);
        ck_assert(c->pin & VMX_PIN_POSTED_INTR);
        ck_assert(c->proc2 & VMX_PROC2_VIRT_INTR_DELIVERY);
        ck_assert_uint_eq(c->notify_vector, EMU_HV_NOTIFY_VECTOR);
        /* A vCPU asleep in HLT has the wakeup vector in NV (KVM's
         * pi_pre_block), a running one the notification vector. */
        const emu_hv *hv = m->hv;
        ck_assert_uint_eq(c->pi_nv,
                          hv->vcpu[k].blocked ? EMU_HV_WAKEUP_VECTOR : EMU_HV_NOTIFY_VECTOR);
        /* NDST: the vCPU's own physical CPU (x2APIC ID, or xAPIC ID in 15:8). */
        ck_assert(c->ndst == k || c->ndst == k << 8);
        ck_assert_uint_ge(c->entries, 1);
    }
    bool saw_entry = false;
    for (unsigned i = 0; i < s->nev; i++)
        saw_entry |= ui_event_classify(s->ev[i].kind) == UI_EVC_ENTRY ||
                     ui_event_classify(s->ev[i].kind) == UI_EVC_EXIT;
    ck_assert(saw_entry || s->nmarks > 0);
    ck_assert_uint_gt(rec.total, 0);

    /* Without the lookup nothing virtual is shown. */
    ui_snapshot *n = calloc(1, sizeof(*n));
    ui_snapshot_take(n, m, &rec, NULL);
    ck_assert(!n->cpu[0].has_vmx);

    /* The picture: the controls panel shows the posted bit lit. */
    ui_view *v = calloc(1, sizeof(*v));
    ui_view_init(v);
    ui_view_accept(v, s);
    char png[] = "/tmp/apicv_ui_hv_XXXXXX";
    int fd = mkstemp(png);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(ui_render_png(v, 1280, 720, png, err, sizeof(err)), "%s", err);
    unlink(png);

    cpu_obs_unsubscribe(&m->obs, ui_recorder_event, &rec);
    ui_recorder_free(&rec);
    emu_machine_free(m);
    free(m);
    free(s);
    free(n);
    free(v);
}
END_TEST

/* Native mode, a guest that is its own hypervisor (guests/vmx_teach.c,
 * vmx/vmx_root.h): the same panels show its current VMCS, found without a
 * lookup; the CPU is in root or non-root operation of the guest's VMX. */
START_TEST(guest_hypervisor_snapshot)
{
    emu_machine *m = calloc(1, sizeof(*m));
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/vmx_teach.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    m->diag_out = NULL;
    /* Half way through the guest's 1000 VMCALLs. */
    emu_machine_run(m, 300000);
    ck_assert(!m->finished);
    ck_assert(m->cpu[0].vmx_operation);
    ui_snapshot *s = calloc(1, sizeof(*s));
    ui_snapshot_take(s, m, NULL, NULL);
    const ui_cpu_snap *c = &s->cpu[0];
    ck_assert(c->guest_hv);
    ck_assert(c->has_vmx);
    ck_assert_uint_eq(c->vmcs_ptr, m->vroot[0].current);
    ck_assert_uint_eq(c->vmcs_ptr & 0xFFF, 0);
    ck_assert(c->vmcs_launched);
    ck_assert(c->proc & VMX_PROC_TPR_SHADOW);
    ck_assert(c->proc2 & VMX_PROC2_VIRT_INTR_DELIVERY);
    ck_assert(c->where == UI_WHERE_ROOT || c->where == UI_WHERE_NONROOT);
    ck_assert_uint_ge(c->exits, 1);
    ui_view *v = calloc(1, sizeof(*v));
    ui_view_init(v);
    ui_view_accept(v, s);
    char png[] = "/tmp/apicv_ui_ghv_XXXXXX";
    int fd = mkstemp(png);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(ui_render_png(v, 1280, 720, png, err, sizeof(err)), "%s", err);
    unlink(png);
    emu_machine_free(m);
    free(m);
    free(s);
    free(v);
}
END_TEST

/* Right after VMXON, before any VMPTRLD: the CPU is in VMX root operation
 * with no current VMCS, and says so (it said "native"). */
START_TEST(guest_hypervisor_root_without_vmcs)
{
    emu_machine *m = calloc(1, sizeof(*m));
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/vmx_teach.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    m->diag_out = NULL;
    for (unsigned n = 0; n < 100000 && !m->cpu[0].vmx_operation; n++)
        emu_machine_step(m, 0, 1);
    ck_assert(m->cpu[0].vmx_operation);
    ck_assert_uint_eq(m->vroot[0].current, VMX_NO_VMCS);
    ui_snapshot *s = calloc(1, sizeof(*s));
    ui_snapshot_take(s, m, NULL, NULL);
    ck_assert(s->cpu[0].guest_hv);
    ck_assert(!s->cpu[0].has_vmx);
    ck_assert_int_eq(s->cpu[0].where, UI_WHERE_ROOT);
    emu_machine_free(m);
    free(m);
    free(s);
}
END_TEST

/* The descriptor's NV beside the VMCS's notification vector: the same, or
 * a difference that stops processing of the built-in hypervisor's device
 * posts, or a guest hypervisor's descriptor whose NV is its own business
 * (vmx_teach leaves it 0 and its posted interrupt is processed: it said
 * "differs: no processing"). */
START_TEST(descriptor_nv_note)
{
    ui_cpu_snap c;
    memset(&c, 0, sizeof(c));
    c.notify_vector = 0xF2;
    c.pi_nv = 0xF2;
    ck_assert_str_eq(ui_pi_nv_note(&c), " (the same)");
    c.pi_nv = 0;
    ck_assert_str_eq(ui_pi_nv_note(&c), " (differs: a device's post notifies with it, no processing)");
    c.guest_hv = true;
    ck_assert_str_eq(ui_pi_nv_note(&c), " (software's field: processing uses the VMCS's)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_hv_view");
    TCase *tc = tcase_create("hv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, posted_mode_snapshot);
    tcase_add_test(tc, guest_hypervisor_snapshot);
    tcase_add_test(tc, guest_hypervisor_root_without_vmcs);
    tcase_add_test(tc, descriptor_nv_note);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
