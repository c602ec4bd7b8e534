/*
 * test_snapshot.c — the snapshot reads the right places of a real vmx_vcpu
 * (virtual-APIC page, posted-interrupt descriptor, guest interrupt status,
 * VMCS controls), and the window follows one posted interrupt from PIR to
 * VIRR to VISR to gone (SDM 29.6, 29.2.2, 29.1.4), driven by vmx/'s own
 * algorithms on the vCPU of tests/vmx/test_apicv_fixture.h.
 */
#include "tests/vmx/test_apicv_fixture.h"

#include <stdlib.h>

#include <SDL.h>

#include "ui/ui.h"

#define NV 0xF2

typedef struct flow {
    apicv_fx f;
    ui_recorder rec;
    ui_view view;
} flow;

static flow *open_flow(void)
{
    flow *w = calloc(1, sizeof(*w));
    fx_init(&w->f, VMX_PROC2_VIRT_INTR_DELIVERY | VMX_PROC2_VIRT_APIC_ACCESS);
    vmx_vmcs_set(&w->f.v.vmcs, VMCS_POSTED_INTR_NV, NV);
    vmx_vmcs_set(&w->f.v.vmcs, VMCS_PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
    vmx_vmcs_set(&w->f.v.vmcs, VMCS_TPR_THRESHOLD, 3);
    vmx_vmcs_set(&w->f.v.vmcs, VMCS_EOI_EXIT_BITMAP1, 1ull << (0x7E - 64));
    vmx_pi_set_nv(&w->f.h.phys, FX_PI_DESC, NV);
    vmx_pi_set_ndst(&w->f.h.phys, FX_PI_DESC, 1);
    ui_recorder_init(&w->rec, NULL);
    ck_assert(cpu_obs_subscribe(&w->f.h.obs, ui_recorder_event, &w->rec));
    ui_view_init(&w->view);
    return w;
}

static void close_flow(flow *w)
{
    fx_free(&w->f);
    ui_recorder_free(&w->rec);
    free(w);
}

/* A snapshot of the vCPU, handed to the view as the window would. */
static const ui_cpu_snap *snap(flow *w)
{
    ui_snapshot s = w->view.snap;
    memset(&s.cpu[0], 0, sizeof(s.cpu[0]));
    s.ncpus = 1;
    s.seq++;
    s.cpu[0].cycle = w->f.h.cpu.cycles;
    ui_snapshot_vcpu(&s.cpu[0], &w->f.v);
    ui_snapshot_events(&s, &w->rec);
    w->view.clock_ms += 10 * UI_FLASH_MS; /* earlier flashes are over */
    ui_view_accept(&w->view, &s);
    return &w->view.snap.cpu[0];
}

static bool flashing(flow *w, ui_grid_id g, unsigned vec)
{
    return ui_view_flashing(&w->view, 0, g, vec);
}

START_TEST(controls_and_fields)
{
    flow *w = open_flow();
    const ui_cpu_snap *c = snap(w);
    ck_assert(c->has_vmx);
    ck_assert_int_eq(c->where, UI_WHERE_NONROOT);
    ck_assert_uint_eq(c->pin, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
    ck_assert(c->proc & VMX_PROC_TPR_SHADOW);
    ck_assert_uint_eq(c->proc2, VMX_PROC2_VIRT_INTR_DELIVERY | VMX_PROC2_VIRT_APIC_ACCESS);
    ck_assert_uint_eq(c->tpr_threshold, 3);
    ck_assert_uint_eq(c->notify_vector, NV);
    ck_assert_uint_eq(c->pi_nv, NV);
    ck_assert_uint_eq(c->ndst, 1);
    ck_assert(ui_vec_test(&c->eoi_exit, 0x7E));
    ck_assert(!ui_vec_test(&c->eoi_exit, 0x7F));
    /* VTPR comes from the page's TPR. */
    fx_set_page32(&w->f, VMX_VAPIC_TPR, 0x20);
    c = snap(w);
    ck_assert_uint_eq(c->vtpr, 0x20);
    close_flow(w);
}
END_TEST

START_TEST(follow_a_posted_interrupt)
{
    flow *w = open_flow();
    cpu_phys *p = &w->f.h.phys;
    const ui_cpu_snap *c = snap(w);
    ck_assert(!ui_vec_test(&c->pir, 0x41));

    /* 1. The device posts 0x41: PIR[0x41] = 1, ON = 1. */
    bool notify = false;
    ck_assert(vmx_pi_post(p, FX_PI_DESC, 0x41, &notify));
    ck_assert(notify);
    c = snap(w);
    ck_assert(ui_vec_test(&c->pir, 0x41));
    ck_assert(c->on);
    ck_assert(!c->sn);
    ck_assert(flashing(w, UI_GRID_PIR, 0x41));
    ck_assert(!flashing(w, UI_GRID_VIRR, 0x41));

    /* 2. The notification is processed (SDM 29.6): PIR → VIRR, RVI = 0x41. */
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&w->f.v, NV), VMX_PI_PROCESSED);
    c = snap(w);
    ck_assert(!ui_vec_test(&c->pir, 0x41));
    ck_assert(!c->on);
    ck_assert(ui_vec_test(&c->virr, 0x41));
    ck_assert_uint_eq(c->rvi, 0x41);
    ck_assert(flashing(w, UI_GRID_PIR, 0x41));
    ck_assert(flashing(w, UI_GRID_VIRR, 0x41));
    /* The events that did it are in the snapshot, in order. */
    bool saw_pir_to_virr = false;
    for (unsigned i = 0; i < w->view.snap.nev; i++)
        saw_pir_to_virr |= w->view.snap.ev[i].kind == VMX_EV_PI_PIR_TO_VIRR;
    ck_assert(saw_pir_to_virr);
    ui_view_describe_cell(&w->view, UI_GRID_VIRR, 0x41);
    ck_assert_ptr_nonnull(strstr(w->view.info, "= RVI"));
    ck_assert_ptr_null(strstr(w->view.info, "by ?"));
    ck_assert_ptr_nonnull(strstr(w->view.info, " by "));

    /* 3. Virtual-interrupt delivery (SDM 29.2.2): VISR, SVI, VPPR = 0x40. */
    cpu_set_rflags(&w->f.h.cpu, CPU_FL_FIXED1 | CPU_FL_IF);
    ck_assert(vmx_apicv_evaluate_pending(&w->f.v));
    ck_assert(vmx_apicv_deliver_virtual_interrupt(&w->f.v));
    c = snap(w);
    ck_assert(!ui_vec_test(&c->virr, 0x41));
    ck_assert(ui_vec_test(&c->visr, 0x41));
    ck_assert_uint_eq(c->svi, 0x41);
    ck_assert_uint_eq(c->rvi, 0);
    ck_assert_uint_eq(c->vppr, 0x40);
    ck_assert(flashing(w, UI_GRID_VISR, 0x41));
    bool saw_delivery = false;
    for (unsigned i = 0; i < w->view.snap.nmarks; i++)
        saw_delivery |= w->view.snap.marks[i].cls == UI_EVC_DELIVERY;
    ck_assert(saw_delivery); /* on the timeline */

    /* 4. The guest's EOI (SDM 29.1.4): VISR clear, SVI 0, VPPR 0. */
    vmx_apicv_eoi_virtualization(&w->f.v);
    c = snap(w);
    ck_assert(!ui_vec_test(&c->visr, 0x41));
    ck_assert_uint_eq(c->svi, 0);
    ck_assert_uint_eq(c->vppr, 0);
    ck_assert(flashing(w, UI_GRID_VISR, 0x41));
    close_flow(w);
}
END_TEST

START_TEST(picture_of_delivery)
{
    /* The state after delivery, rendered: VISR 0x41 lit with the SVI
     * marker, and the VPPR line at class 4 on VIRR. */
    flow *w = open_flow();
    bool notify;
    vmx_pi_post(&w->f.h.phys, FX_PI_DESC, 0x41, &notify);
    vmx_pi_post(&w->f.h.phys, FX_PI_DESC, 0x33, &notify);
    vmx_apicv_posted_intr_process(&w->f.v, NV);
    cpu_set_rflags(&w->f.h.cpu, CPU_FL_FIXED1 | CPU_FL_IF);
    vmx_apicv_evaluate_pending(&w->f.v);
    vmx_apicv_deliver_virtual_interrupt(&w->f.v);
    snap(w);
    w->view.clock_ms += 10 * UI_FLASH_MS;
    SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, 1280, 720, 32, SDL_PIXELFORMAT_ARGB8888);
    SDL_Renderer *r = SDL_CreateSoftwareRenderer(s);
    char err[256];
    ui_gfx *g = ui_gfx_create(r, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ui_layout l;
    ui_render(g, &w->view, 1280, 720, &l);
    SDL_RenderPresent(r);
    int x, y;
#define PX(xx, yy) (((const uint32_t *)((const uint8_t *)s->pixels + (size_t)(yy) * s->pitch))[xx] & 0xFFFFFF)
    ui_layout_cell(&l, UI_GRID_VISR, 0x41, &x, &y);
    ck_assert_uint_eq(PX(x + l.cell / 2, y + l.cell / 2), UI_RGB_VISR);
    ck_assert_uint_eq(PX(x, y + l.cell / 2), UI_RGB_MARKER);
    ui_layout_cell(&l, UI_GRID_VIRR, 0x33, &x, &y); /* still requested, masked */
    ck_assert_uint_eq(PX(x + l.cell / 2, y + l.cell / 2), UI_RGB_VIRR);
    ck_assert_uint_eq(PX(x, y + l.cell / 2), UI_RGB_MARKER); /* RVI = 0x33 */
    ui_layout_cell(&l, UI_GRID_VIRR, 0x48, &x, &y);
    ck_assert_uint_eq(PX(x + l.cell / 2, y), UI_RGB_PPR_LINE);
#undef PX
    ui_gfx_destroy(g);
    SDL_DestroyRenderer(r);
    SDL_FreeSurface(s);
    close_flow(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, controls_and_fields);
    tcase_add_test(tc, follow_a_posted_interrupt);
    tcase_add_test(tc, picture_of_delivery);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
