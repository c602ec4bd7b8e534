/*
 * emu_hv.c — the built-in hypervisor: per-vCPU VMCS set-up as KVM's vmx.c
 * does it, the run loop (VM entry, non-root run, exit handling), the
 * interrupt paths of the four VMX modes, HLT blocking, descheduling, and
 * timed work on each physical CPU's clock. Exit handlers and hypercalls are
 * in emu_hv_exit.c. docs/hypervisor.md describes the whole design.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

const char *emu_hv_event_name(unsigned kind)
{
    static const char *const names[EMU_HV_EV_END - EMU_HV_EV_HYPERCALL] = {
        "hv.hypercall", "hv.inject", "hv.virr-set", "hv.post", "hv.kick", "hv.block",
        "hv.wake", "hv.desched", "hv.resched", "hv.host-irq", "hv.ipi",
    };
    if (kind < EMU_HV_EV_HYPERCALL || kind >= EMU_HV_EV_END)
        return NULL;
    return names[kind - EMU_HV_EV_HYPERCALL];
}

/* The host's work in root operation takes time on the vCPU's CPU
 * (docs/cost-model.md, "The hypervisor's work"). */
static void hv_charge(emu_hv_vcpu *vc, cpu_cost_class k)
{
    cpu_t *c = vc->vmx.cpu;
    c->cycles += c->costs->cost[k];
}

static void hv_emit(emu_hv *hv, emu_hv_vcpu *vc, unsigned kind, uint64_t a, uint64_t b,
                    uint64_t d)
{
    cpu_t *c = vc->vmx.cpu;
    cpu_obs_emit(&hv->m->obs, c->cycles, c->index, kind, a, b, c->rip, d);
}

void hv_crash(emu_hv *hv, emu_hv_vcpu *vc, const char *cause)
{
    emu_machine *m = hv->m;
    cpu_t *c = vc->vmx.cpu;
    if (m->finished)
        return;
    char what[200];
    emu_describe_rip(c, what, sizeof(what));
    snprintf(m->diag, sizeof(m->diag), "cpu%u: %s at RIP %#llx, cycle %llu: %s", c->index, cause,
             (unsigned long long)c->rip, (unsigned long long)c->cycles, what);
    cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_CRASH, c->stop, 0, c->rip, 0);
    m->finished = true;
    m->exit_status = EMU_EXIT_CRASH;
}

/* ---- root-operation hooks --------------------------------------------------
 * The cpu_t is the guest's logical processor; outside VMX non-root these
 * hooks stand for "nothing the guest can reach": no MMIO, no ports, no
 * MSRs beyond the CPU's own. In non-root vmx/ forwards to them only what
 * the bitmaps let through. */

/* Guest-physical addresses outside RAM reach the machine's MMIO devices
 * (the I/O APIC page): the hypervisor emulates them as KVM emulates MMIO
 * after an EPT misconfiguration, here without an exit (no EPT). */
static bool hv_root_mmio(void *ctx, cpu_t *c, uint64_t paddr, unsigned size, cpu_access acc,
                         uint64_t *val)
{
    emu_hv *hv = ctx;
    if ((paddr < c->phys->ram_size && !emu_bus_owns_page(hv->m, paddr)) || acc == CPU_ACC_FETCH)
        return false;
    return emu_bus_mmio(hv->m, c, paddr, size, acc == CPU_ACC_WRITE, val);
}

/* Device pages inside RAM (--mem 4096 reaches the I/O APIC page) trap. */
static cpu_page_kind hv_root_page_kind(void *ctx, cpu_t *c, uint64_t paddr)
{
    emu_hv *hv = ctx;
    return paddr >= c->phys->ram_size || emu_bus_owns_page(hv->m, paddr) ? CPU_PAGE_TRAP
                                                                         : CPU_PAGE_RAM;
}

static bool hv_root_io(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    (void)ctx, (void)c, (void)port, (void)size, (void)in, (void)val;
    return false;
}

static bool hv_root_rdmsr(void *ctx, cpu_t *c, uint32_t msr, uint64_t *val)
{
    (void)ctx, (void)c, (void)msr, (void)val;
    return false;
}

static bool hv_root_wrmsr(void *ctx, cpu_t *c, uint32_t msr, uint64_t val)
{
    (void)ctx, (void)c, (void)msr, (void)val;
    return false;
}

/* Reported as in native mode: the bytes at RIP and Capstone's reading. */
static void hv_root_unimplemented(void *ctx, cpu_t *c, const uint8_t *bytes, unsigned len)
{
    const emu_hv *hv = ctx;
    char what[200];
    (void)bytes, (void)len;
    emu_describe_rip(c, what, sizeof(what));
    emu_diag(hv->m, EMU_DIAG_UNIMPLEMENTED, "cpu%u: unimplemented instruction at RIP %#llx: %s%s", c->index,
            (unsigned long long)c->rip, what,
            hv->m->cfg.strict ? "" : "; raising #UD in the guest (--strict stops here)");
}

/* The guest's software APIC sends an IPI (emulated and tpr-shadow modes). */
static void hv_sw_apic_ipi(void *ctx, apic_t *src, const apic_ipi *ipi)
{
    hv_route_ipi(ctx, src->cpu->index, ipi);
}

/* ---- VMCS set-up (KVM: vmx_vcpu_setup / init_vmcs) ------------------------ */

static void hv_msr_intercept(uint8_t *bm, uint32_t msr, bool read, bool write)
{
    unsigned base = msr >= 0xC0000000u ? 1024 : 0;
    unsigned bit = msr & 0x1FFF;
    uint8_t mask = (uint8_t)(1u << (bit & 7));
    if (read)
        bm[base + (bit >> 3)] |= mask;
    else
        bm[base + (bit >> 3)] &= (uint8_t)~mask;
    if (write)
        bm[2048 + base + (bit >> 3)] |= mask;
    else
        bm[2048 + base + (bit >> 3)] &= (uint8_t)~mask;
}

/* SDM 11.4.7.1 reset values on the virtual-APIC page, so that virtualized
 * reads see an APIC after power-up. */
void hv_vapic_reset(emu_hv_vcpu *vc, unsigned index)
{
    vmx_vcpu *v = &vc->vmx;
    vmx_vapic_write32(v, VMX_VAPIC_ID, index << 24);
    vmx_vapic_write32(v, VMX_VAPIC_VERSION, APIC_VERSION_VALUE);
    vmx_vapic_write32(v, VMX_VAPIC_DFR, 0xFFFFFFFFu);
    vmx_vapic_write32(v, VMX_VAPIC_SVR, 0xFF);
    for (unsigned off = VMX_VAPIC_LVT_TIMER; off <= VMX_VAPIC_LVT_ERROR; off += 0x10)
        vmx_vapic_write32(v, off, APIC_LVT_MASKED);
}

/* The guest cleared IA32_APIC_BASE.EN (apicv, posted): its APIC returns to
 * the power-up state (SDM 11.4.3, 11.4.7.1) as the software APIC does, so
 * the virtual-APIC page is cleared to the reset values (initial APIC ID
 * included) and RVI/SVI to 0. Vectors already posted in the PIR are not
 * withdrawn (they reach IRR at the next entry, as a message that was in
 * flight would). */
void hv_vapic_power_up(emu_hv_vcpu *vc, unsigned index)
{
    vmx_vcpu *v = &vc->vmx;
    for (unsigned off = 0; off < 0x400; off += 0x10)
        vmx_vapic_write32(v, off, 0);
    hv_vapic_reset(vc, index);
    vmx_apicv_set_rvi(v, 0);
    vmx_apicv_set_svi(v, 0);
}

/* The NDST of the host APIC of physical CPU k, in the xAPIC format of the
 * posted-interrupt descriptor (SDM 29.6 table 29-1: ID in bits 15:8). */
static uint32_t hv_ndst(emu_hv_vcpu *vc)
{
    return apic_x2apic_mode(vc->host_apic) ? apic_id(vc->host_apic) : apic_id(vc->host_apic) << 8;
}

static bool hv_setup_vcpu(emu_hv *hv, unsigned k, apic_t *host, char *err, size_t errlen)
{
    emu_machine *m = hv->m;
    emu_hv_vcpu *vc = &hv->vcpu[k];
    cpu_t *c = &m->cpu[k];
    cpu_phys *p = &m->phys;

    if (host) {
        vc->host_apic = host;
    } else {
        vc->host_apic = &vc->own_host_apic;
        apic_init(vc->host_apic, c, k, k == 0, &m->obs);
    }
    /* The host OS has its APIC software-enabled. */
    apic_mmio_write(vc->host_apic, APIC_REG_SVR, 4, APIC_SVR_ENABLE | 0xFF);
    apic_init(&vc->sw_apic, c, k, k == 0, &m->obs);
    apic_set_ipi_sink(&vc->sw_apic, hv_sw_apic_ipi, hv);

    vc->vapic_pa = cpu_phys_host_alloc(p, CPU_PAGE_SIZE);
    vc->pid_pa = cpu_phys_host_alloc(p, CPU_PAGE_SIZE);
    vc->msr_bitmap_pa = cpu_phys_host_alloc(p, CPU_PAGE_SIZE);
    vc->io_bitmap_a_pa = cpu_phys_host_alloc(p, CPU_PAGE_SIZE);
    vc->io_bitmap_b_pa = cpu_phys_host_alloc(p, CPU_PAGE_SIZE);
    if (!vc->vapic_pa || !vc->pid_pa || !vc->msr_bitmap_pa || !vc->io_bitmap_a_pa ||
        !vc->io_bitmap_b_pa) {
        snprintf(err, errlen, "hypervisor: host-owned memory exhausted for vCPU %u", k);
        return false;
    }

    cpu_hooks h = {
        .page_kind = hv_root_page_kind,
        .mmio = hv_root_mmio,
        .io = hv_root_io,
        .rdmsr = hv_root_rdmsr,
        .wrmsr = hv_root_wrmsr,
        .unimplemented = hv_root_unimplemented,
        .ctx = hv,
    };
    cpu_set_hooks(c, &h);

    vmx_vcpu *v = &vc->vmx;
    vmx_vcpu_init(v, c, vc->host_apic, p, &m->obs);
    /* EPT tables the guest builds are its own RAM: the walk never reads a
     * host page as a table (guest ABI, "What a guest can reach"). */
    v->ept_tables_below = p->ram_size;
    vmx_setup_default_controls(v);
    vmx_setup_host_state(v);
    vmx_setup_guest_from_cpu(v);

    /* Pin-based: external interrupts and NMIs belong to the host; virtual
     * NMIs so that the guest's NMI blocking is tracked across exits and
     * NMI-window exiting may be used (SDM 26.2.1.1: it requires virtual
     * NMIs); posted interrupts in posted mode (KVM: vmx_pin_based_exec_ctrl). */
    uint32_t pin = (uint32_t)HV_VMCS(vc, PIN_CONTROLS) | VMX_PIN_EXT_INTR_EXITING |
                   VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS;
    if (hv->mode == EMU_MODE_POSTED)
        pin |= VMX_PIN_POSTED_INTR;
    HV_VMCS_SET(vc, PIN_CONTROLS, pin);
    /* Primary: HLT exiting, MSR and I/O bitmaps, TPR shadow (or CR8
     * exiting without it), secondary controls. */
    uint32_t proc = (uint32_t)HV_VMCS(vc, PROC_CONTROLS) | VMX_PROC_HLT | VMX_PROC_MSR_BITMAPS |
                    VMX_PROC_IO_BITMAPS | VMX_PROC_SECONDARY;
    proc |= hv_tpr_shadow_mode(hv) ? VMX_PROC_TPR_SHADOW : (VMX_PROC_CR8_LOAD | VMX_PROC_CR8_STORE);
    HV_VMCS_SET(vc, PROC_CONTROLS, proc);
    uint32_t proc2 = VMX_PROC2_VIRT_APIC_ACCESS;
    if (hv_apicv_mode(hv))
        proc2 |= VMX_PROC2_APIC_REG_VIRT | VMX_PROC2_VIRT_INTR_DELIVERY;
    HV_VMCS_SET(vc, PROC_CONTROLS2, proc2);
    HV_VMCS_SET(vc, EXIT_CONTROLS,
                HV_VMCS(vc, EXIT_CONTROLS) | VMX_EXIT_ACK_INTR | VMX_EXIT_HOST_ADDR_SPACE);
    HV_VMCS_SET(vc, ENTRY_CONTROLS, HV_VMCS(vc, ENTRY_CONTROLS) | VMX_ENTRY_IA32E);

    HV_VMCS_SET(vc, VIRTUAL_APIC_ADDR, vc->vapic_pa);
    HV_VMCS_SET(vc, APIC_ACCESS_ADDR, APIC_DEFAULT_BASE);
    HV_VMCS_SET(vc, TPR_THRESHOLD, 0);
    HV_VMCS_SET(vc, GUEST_INTR_STATUS, 0);
    HV_VMCS_SET(vc, MSR_BITMAP, vc->msr_bitmap_pa);
    HV_VMCS_SET(vc, IO_BITMAP_A, vc->io_bitmap_a_pa);
    HV_VMCS_SET(vc, IO_BITMAP_B, vc->io_bitmap_b_pa);
    hv_vapic_reset(vc, k);

    /* Every port exits: the console and the exit port are the host's. */
    memset(cpu_phys_ptr_write(p, vc->io_bitmap_a_pa, CPU_PAGE_SIZE), 0xFF, CPU_PAGE_SIZE);
    memset(cpu_phys_ptr_write(p, vc->io_bitmap_b_pa, CPU_PAGE_SIZE), 0xFF, CPU_PAGE_SIZE);
    /* MSRs: the CPU's own pass through; the APIC's and VMX's exit. */
    uint8_t *bm = cpu_phys_ptr_write(p, vc->msr_bitmap_pa, CPU_PAGE_SIZE);
    hv_msr_intercept(bm, APIC_MSR_BASE, true, true);
    hv_msr_intercept(bm, APIC_MSR_TSC_DEADLINE, true, true);
    for (uint32_t msr = APIC_MSR_X2APIC_FIRST; msr <= APIC_MSR_X2APIC_LAST; msr++)
        hv_msr_intercept(bm, msr, true, true);
    for (uint32_t msr = VMX_MSR_BASIC; msr <= VMX_MSR_VMFUNC; msr++)
        hv_msr_intercept(bm, msr, true, true);

    if (hv->mode == EMU_MODE_POSTED) {
        HV_VMCS_SET(vc, POSTED_INTR_NV, EMU_HV_NOTIFY_VECTOR);
        HV_VMCS_SET(vc, POSTED_INTR_DESC_ADDR, vc->pid_pa);
        vmx_pi_set_nv(p, vc->pid_pa, EMU_HV_NOTIFY_VECTOR);
        vmx_pi_set_ndst(p, vc->pid_pa, hv_ndst(vc));
    }
    hv_policy_record_host_values(vc);
    return true;
}

emu_hv *emu_hv_create(emu_machine *m, emu_mode mode, apic_t *const *host_apics, char *err,
                      size_t errlen)
{
    if (mode == EMU_MODE_NATIVE || mode >= EMU_MODE_COUNT) {
        snprintf(err, errlen, "hypervisor: mode %s does not run under VMX", emu_mode_name(mode));
        return NULL;
    }
    emu_hv *hv = calloc(1, sizeof(*hv));
    if (!hv) {
        snprintf(err, errlen, "hypervisor: out of memory");
        return NULL;
    }
    hv->m = m;
    hv->mode = mode;
    hv->ncpus = m->cfg.ncpus;
    for (unsigned k = 0; k < hv->ncpus; k++) {
        if (!hv_setup_vcpu(hv, k, host_apics ? host_apics[k] : NULL, err, errlen)) {
            emu_hv_free(hv);
            return NULL;
        }
    }
    if (m->multiboot) {
        if (!hv_mp_setup(hv, err, errlen)) {
            emu_hv_free(hv);
            return NULL;
        }
        for (unsigned k = 0; k < hv->ncpus; k++)
            hv_policy_record_host_values(&hv->vcpu[k]);
    }
    return hv;
}

void emu_hv_free(emu_hv *hv)
{
    if (!hv)
        return;
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++)
        free(hv->vcpu[k].work);
    free(hv);
}

/* ---- timed work --------------------------------------------------------------- */

static void hv_apply_work(emu_hv *hv, emu_hv_vcpu *vc, const emu_hv_work *w);
static void hv_kick(emu_hv *hv, emu_hv_vcpu *vc);

/* Work on the machine's queue: kind and vector ride in the top bits of
 * the argument. */
#define HV_ARG_BITS 48
static void hv_machine_work(emu_machine *m, const emu_qevent *ev)
{
    emu_hv *hv = ev->ctx;
    emu_hv_work w = {.cycle = ev->cycle,
                     .kind = (uint8_t)(ev->arg >> 56),
                     .vector = (uint8_t)(ev->arg >> HV_ARG_BITS),
                     .arg = ev->arg & ((1ull << HV_ARG_BITS) - 1)};
    (void)m;
    hv_apply_work(hv, &hv->vcpu[ev->cpu], &w);
}

void hv_queue(emu_hv *hv, unsigned cpu, unsigned kind, uint8_t vector, uint64_t arg, uint64_t cycle)
{
    emu_hv_vcpu *vc = &hv->vcpu[cpu];
    if (hv->machine_queue) {
        unsigned src = hv->m->running >= 0 ? (unsigned)hv->m->running : cpu;
        if (kind == HV_WORK_MSI) {
            emu_msi_raise(hv->m, vector, cpu, cycle, src);
            return;
        }
        if (arg >> HV_ARG_BITS)
            arg = (1ull << HV_ARG_BITS) - 1;
        uint64_t packed = ((uint64_t)kind << 56) | ((uint64_t)vector << HV_ARG_BITS) | arg;
        /* A full queue drops the work like a message the bus had no room
         * for: emu_machine_post counts it and logs emu.queue-drop. */
        emu_machine_schedule_call(hv->m, cycle, cpu, hv_machine_work, hv, packed);
        return;
    }
    if (vc->nwork == vc->capwork) {
        size_t cap = vc->capwork ? vc->capwork * 2 : 16;
        emu_hv_work *w = realloc(vc->work, cap * sizeof(*w));
        if (!w) {
            hv_crash(hv, vc, "hypervisor: out of memory for timed work");
            return;
        }
        vc->work = w;
        vc->capwork = cap;
    }
    vc->work[vc->nwork++] = (emu_hv_work){.cycle = cycle, .seq = hv->seq++, .kind = (uint8_t)kind,
                                          .vector = vector, .arg = arg};
}

/* Index of the earliest work (cycle, then posting order), -1 when none. */
static long hv_first_work(const emu_hv_vcpu *vc)
{
    long best = -1;
    for (size_t i = 0; i < vc->nwork; i++) {
        const emu_hv_work *w = &vc->work[i];
        if (best < 0 || w->cycle < vc->work[best].cycle ||
            (w->cycle == vc->work[best].cycle && w->seq < vc->work[best].seq))
            best = (long)i;
    }
    return best;
}

uint64_t emu_hv_next_work(const emu_hv *hv, unsigned cpu)
{
    long i = hv_first_work(&hv->vcpu[cpu]);
    return i < 0 ? UINT64_MAX : hv->vcpu[cpu].work[i].cycle;
}

static void hv_apply_work(emu_hv *hv, emu_hv_vcpu *vc, const emu_hv_work *w)
{
    unsigned k = hv_index(hv, vc);
    switch (w->kind) {
    case HV_WORK_MSI: hv_deliver(hv, k, w->vector); break;
    case HV_WORK_HOST_IRQ: apic_accept(vc->host_apic, w->vector, APIC_DM_FIXED, false); break;
    case HV_WORK_NMI:
        vc->nmi_pending = true;
        hv_kick(hv, vc);
        break;
    case HV_WORK_INIT:
        /* An INIT signal at the physical APIC: a VM exit (3) at once in
         * non-root operation, or at the next entry of a sleeper. */
        apic_accept(vc->host_apic, 0, APIC_DM_INIT, false);
        break;
    case HV_WORK_SIPI:
        /* Only a vCPU in wait-for-SIPI takes it (exit 4); anywhere else
         * a SIPI is discarded (SDM 25.2). An INIT it has not taken yet
         * counts: INIT + SIPI sent back to back (kvm-unit-tests) start
         * it, as on hardware, where the INIT completes first. */
        if (HV_VMCS(vc, GUEST_ACTIVITY_STATE) == VMX_ACTIVITY_WAIT_SIPI ||
            vc->host_apic->init_pending)
            apic_accept(vc->host_apic, w->vector, APIC_DM_SIPI, false);
        break;
    case HV_WORK_DESCHEDULE:
        if (vc->vmx.non_root) {
            /* A preempting scheduler takes the CPU with its timer tick: the
             * vCPU exits (1) and is not entered again for a while. */
            vc->desched_requested = true;
            vc->desched_request = w->arg;
            apic_accept(vc->host_apic, EMU_HV_TIMER_VECTOR, APIC_DM_FIXED, false);
        } else {
            hv_deschedule(hv, vc, w->arg);
        }
        break;
    default: break;
    }
}

static void hv_apply_due_work(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    for (;;) {
        long i = hv_first_work(vc);
        if (i < 0 || vc->work[i].cycle > c->cycles || hv->m->finished)
            return;
        emu_hv_work w = vc->work[i];
        vc->work[i] = vc->work[--vc->nwork];
        hv_apply_work(hv, vc, &w);
    }
}

void emu_hv_device_msi_at(emu_hv *hv, unsigned vcpu, uint8_t vector, uint64_t cycle)
{
    if (vcpu < hv->ncpus)
        hv_queue(hv, vcpu, HV_WORK_MSI, vector, 0, cycle);
}

void emu_hv_deschedule_at(emu_hv *hv, unsigned vcpu, uint64_t cycles, uint64_t cycle)
{
    if (vcpu < hv->ncpus)
        hv_queue(hv, vcpu, HV_WORK_DESCHEDULE, 0, cycles, cycle);
}

void emu_hv_nmi_at(emu_hv *hv, unsigned vcpu, uint64_t cycle)
{
    if (vcpu < hv->ncpus)
        hv_queue(hv, vcpu, HV_WORK_NMI, 2, 0, cycle);
}

void emu_hv_host_irq(emu_hv *hv, unsigned pcpu, uint8_t vector, uint64_t cycle)
{
    if (pcpu < hv->ncpus)
        hv_queue(hv, pcpu, HV_WORK_HOST_IRQ, vector, 0, cycle);
}

/* ---- interrupt paths ---------------------------------------------------------- */

/* The reschedule IPI of KVM's kvm_vcpu_kick: a running vCPU exits (1) so
 * that the next entry picks up what was queued for it. */
static void hv_kick(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!vc->vmx.non_root)
        return;
    hv_emit(hv, vc, EMU_HV_EV_KICK, hv_index(hv, vc), 0, 0);
    apic_accept(vc->host_apic, EMU_HV_KICK_VECTOR, APIC_DM_FIXED, false);
}

/* Posting as an IOMMU with posted-interrupt remapping (or KVM's
 * vmx_deliver_posted_interrupt) does it: PIR, ON, and the notification
 * vector to NDST unless ON was set already or SN is set. */
static void hv_post(emu_hv *hv, emu_hv_vcpu *vc, uint8_t vector)
{
    cpu_phys *p = &hv->m->phys;
    bool notify = false;
    vmx_pi_post(p, vc->pid_pa, vector, &notify);
    vc->delivered[EMU_HV_PATH_POSTED]++;
    hv_emit(hv, vc, EMU_HV_EV_POST, vector, hv_index(hv, vc), notify);
    if (!notify)
        return;
    uint8_t nv = vmx_pi_get_nv(p, vc->pid_pa);
    uint32_t ndst = vmx_pi_get_ndst(p, vc->pid_pa);
    for (unsigned k = 0; k < hv->ncpus; k++) {
        if (hv_ndst(&hv->vcpu[k]) == ndst) {
            apic_accept(hv->vcpu[k].host_apic, nv, APIC_DM_FIXED, false);
            return;
        }
    }
}

/*
 * Every fixed interrupt for a vCPU — a device MSI (SEND_MSI, port F0H, a
 * scenario), an IPI, the guest's timer — arrives here. SDM 11.5.3 "Error
 * Handling": a local APIC refuses a vector 0-15 with "receive illegal
 * vector" and never sets its IRR bit. The guest's APIC keeps its ESR in the
 * software APIC in every mode (apicv/posted latch it onto the virtual-APIC
 * page at an ESR write), so the refusal happens there and nothing reaches
 * IRR, VIRR, RVI or PIR; the error may raise the LVT error interrupt.
 */
void hv_deliver(emu_hv *hv, unsigned to, uint8_t vector)
{
    emu_hv_vcpu *vc = &hv->vcpu[to];
    if (vector < 16) {
        apic_accept(&vc->sw_apic, vector, APIC_DM_FIXED, false);
        hv_sw_apic_raised(hv, vc);
        return;
    }
    /* Accepted edge-triggered: TMR bit cleared (SDM 11.8.4); a level-
     * triggered one from the I/O APIC sets it again (emu_hv_device_level). */
    if (hv_apicv_mode(hv))
        hv_set_trigger(vc, vector, false);
    switch (hv->mode) {
    case EMU_MODE_POSTED: hv_post(hv, vc, vector); break;
    case EMU_MODE_APICV:
        vc->pending_irr[vector >> 5] |= 1u << (vector & 31);
        hv_kick(hv, vc);
        break;
    default:
        apic_accept(&vc->sw_apic, vector, APIC_DM_FIXED, false);
        hv_kick(hv, vc);
        break;
    }
}

void emu_hv_device_msi(emu_hv *hv, unsigned vcpu, uint8_t vector)
{
    if (vcpu < hv->ncpus)
        hv_deliver(hv, vcpu, vector);
}

/* The cycle a message the host sends from vCPU `from`'s CPU now reaches
 * another CPU: the sender's clock plus the IPI's trip (docs/cost-model.md,
 * "ipi"). */
static uint64_t hv_ipi_due(emu_hv *hv, unsigned from)
{
    const cpu_t *c = hv->vcpu[from].vmx.cpu;
    return emu_cycle_after(c->cycles, c->costs->cost[CPU_COST_IPI]);
}

void hv_send_nmi(emu_hv *hv, unsigned from, unsigned to)
{
    if (from == to)
        hv->vcpu[to].nmi_pending = true;
    else
        hv_queue(hv, to, HV_WORK_NMI, 2, 0, hv_ipi_due(hv, from));
}

void hv_send(emu_hv *hv, unsigned from, unsigned to, uint8_t vector)
{
    if (from == to)
        hv_deliver(hv, to, vector);
    else
        hv_queue(hv, to, HV_WORK_MSI, vector, 0, hv_ipi_due(hv, from));
}

/* apicv: the vectors queued for this vCPU go into VIRR and RVI (KVM:
 * vmx_sync_pir_to_irr / kvm_apic_update_irr + RVI). */
static void hv_merge_pending_irr(emu_hv *hv, emu_hv_vcpu *vc)
{
    vmx_vcpu *v = &vc->vmx;
    for (int slot = 7; slot >= 0; slot--) {
        uint32_t bits = vc->pending_irr[slot];
        if (!bits)
            continue;
        vc->pending_irr[slot] = 0;
        unsigned off = VMX_VAPIC_IRR + (unsigned)slot * 16u;
        vmx_vapic_write32(v, off, vmx_vapic_read32(v, off) | bits);
        vc->delivered[EMU_HV_PATH_VIRR] += (unsigned)__builtin_popcount(bits);
        uint8_t highest = (uint8_t)(slot * 32 + (31 - __builtin_clz(bits)));
        uint8_t rvi = vmx_apicv_rvi(v);
        if (highest > rvi)
            vmx_apicv_set_rvi(v, highest);
        hv_emit(hv, vc, EMU_HV_EV_VIRR_SET, highest, rvi, vmx_apicv_rvi(v));
    }
}

static bool hv_pid_pending(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_phys *p = &hv->m->phys;
    if (vmx_pi_get_on(p, vc->pid_pa))
        return true;
    for (unsigned i = 0; i < 4; i++)
        if (vmx_pi_pir_qword(p, vc->pid_pa, i))
            return true;
    return false;
}

/* The highest vector posted in PIR, or -1 (the descriptor is not changed). */
static int hv_pir_highest(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_phys *p = &hv->m->phys;
    for (int i = 3; i >= 0; i--) {
        uint64_t q = vmx_pi_pir_qword(p, vc->pid_pa, (unsigned)i);
        if (q)
            return i * 64 + 63 - __builtin_clzll(q);
    }
    return -1;
}

static bool hv_guest_if(emu_hv_vcpu *vc)
{
    return (HV_VMCS(vc, GUEST_RFLAGS) & CPU_FL_IF) != 0;
}

static bool hv_guest_interruptible(emu_hv_vcpu *vc)
{
    return hv_guest_if(vc) &&
           !(HV_VMCS(vc, GUEST_INTERRUPTIBILITY) & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS));
}

static int hv_sw_highest_irr(const apic_t *a)
{
    for (int slot = 7; slot >= 0; slot--)
        if (a->irr[slot])
            return slot * 32 + (31 - __builtin_clz(a->irr[slot]));
    return -1;
}

/* KVM update_cr8_intercept / vmx_update_cr8_intercept: with TPR shadow and
 * without VID, the TPR threshold is the class of the highest pending
 * interrupt if the TPR masks it, else 0. The guest then exits (43) exactly
 * when lowering its TPR unmasks something, and never at once after an
 * entry (SDM 26.6.7: exit 43 right after the entry when threshold[3:0] >
 * VTPR[7:4]). Pending means the software APIC's IRR (tpr-shadow) or VIRR
 * (apicv/posted with VID turned off by the guest). */
void hv_update_cr8_intercept(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!(HV_VMCS(vc, PROC_CONTROLS) & VMX_PROC_TPR_SHADOW))
        return;
    int irr;
    unsigned tpr_class;
    if (hv_apicv_mode(hv)) {
        irr = vmx_vapic_highest(&vc->vmx, VMX_VAPIC_IRR);
        tpr_class = (vmx_vapic_read32(&vc->vmx, VMX_VAPIC_TPR) >> 4) & 0xF;
    } else {
        irr = hv_sw_highest_irr(&vc->sw_apic);
        tpr_class = (vc->sw_apic.tpr >> 4) & 0xF;
    }
    unsigned thr = (irr >= 0 && (unsigned)(irr >> 4) <= tpr_class) ? (unsigned)irr >> 4 : 0;
    HV_VMCS_SET(vc, TPR_THRESHOLD, thr);
}

/* emulated/tpr-shadow (KVM: vmx_inject_irq, enable_irq_window,
 * update_cr8_intercept): the highest deliverable interrupt of the software
 * APIC goes into the VM-entry interruption-information field when the
 * guest can take it; otherwise interrupt-window exiting asks for the moment
 * it can. With TPR shadow the threshold is the class of the highest
 * pending interrupt the TPR masks (0 when none), so the guest exits (43)
 * when it lowers its TPR below it. */
static void hv_prepare_injection(emu_hv *hv, emu_hv_vcpu *vc)
{
    apic_t *a = &vc->sw_apic;
    bool window = false;
    if (HV_VMCS(vc, ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID) {
        window = apic_pending_vector(a) >= 0;
    } else if (apic_pending_vector(a) >= 0) {
        if (hv_guest_interruptible(vc)) {
            int vec = apic_acknowledge(a);
            if (vec >= 0) {
                HV_VMCS_SET(vc, ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (uint32_t)vec);
                hv_charge(vc, CPU_COST_HV_INJECT);
                vc->delivered[EMU_HV_PATH_INJECT]++;
                hv_emit(hv, vc, EMU_HV_EV_INJECT, (uint64_t)vec, 0, 0);
            }
            window = apic_pending_vector(a) >= 0;
        } else {
            window = true;
        }
    }
    /* Set here, cleared only by the exit-7 handler, as KVM does. */
    if (window)
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) | VMX_PROC_INTR_WINDOW);
    if (hv->mode == EMU_MODE_TPR_SHADOW)
        hv_update_cr8_intercept(hv, vc);
}

/* KVM vmx_inject_nmi / enable_nmi_window: an NMI goes into the VM-entry
 * field unless another event is there or the guest blocks NMIs (blocking
 * by NMI or MOV SS); then NMI-window exiting asks for the moment. */
static void hv_prepare_nmi(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!vc->nmi_pending)
        return;
    uint64_t intr = HV_VMCS(vc, GUEST_INTERRUPTIBILITY);
    bool blocked = (intr & (VMX_INTERRUPTIBILITY_NMI | VMX_INTERRUPTIBILITY_MOV_SS |
                            VMX_INTERRUPTIBILITY_STI)) != 0;
    if (!(HV_VMCS(vc, ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID) && !blocked) {
        HV_VMCS_SET(vc, ENTRY_INTR_INFO,
                    VMX_INTR_INFO_VALID | ((uint32_t)VMX_INTR_TYPE_NMI << 8) | CPU_EXC_NMI);
        hv_charge(vc, CPU_COST_HV_INJECT);
        vc->nmi_pending = false;
        hv_emit(hv, vc, EMU_HV_EV_INJECT, CPU_EXC_NMI, VMX_INTR_TYPE_NMI, 0);
    } else {
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) | VMX_PROC_NMI_WINDOW);
    }
}

/* Everything the hypervisor does in root operation right before VM entry. */
static void hv_prepare_entry(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_phys *p = &hv->m->phys;
    if (hv->mp) {
        hv_mp_prepare_entry(hv, vc);
        /* Nothing is injected into wait-for-SIPI (SDM 26.3.1.5): it
         * waits for the SIPI exit. */
        if (HV_VMCS(vc, GUEST_ACTIVITY_STATE) == VMX_ACTIVITY_WAIT_SIPI)
            return;
    }
    hv_prepare_nmi(hv, vc);
    emu_hv_prepare_extint(hv, vc); /* the 8259 through LINT0 (emu_hv_devices.c) */
    switch (hv->mode) {
    case EMU_MODE_POSTED:
        vmx_pi_set_ndst(p, vc->pid_pa, hv_ndst(vc));
        if (hv_pid_pending(hv, vc))
            vmx_apicv_pi_sync(&vc->vmx);
        hv_merge_pending_irr(hv, vc);
        break;
    case EMU_MODE_APICV: hv_merge_pending_irr(hv, vc); break;
    default: hv_prepare_injection(hv, vc); break;
    }
}

/* VPPR as PPR virtualization computes it (SDM 29.1.3). */
static uint8_t hv_vppr(emu_hv_vcpu *vc)
{
    uint8_t vtpr = (uint8_t)vmx_vapic_read32(&vc->vmx, VMX_VAPIC_TPR);
    uint8_t svi = vmx_apicv_svi(&vc->vmx);
    return (vtpr >> 4) >= (svi >> 4) ? vtpr : (uint8_t)(svi & 0xF0);
}

/* Can a sleeping vCPU take an interrupt (KVM: kvm_vcpu_has_events with
 * kvm_arch_interrupt_allowed)? apicv/posted: the highest pending virtual
 * interrupt — RVI, or a vector still in PIR (posted) — is in a class above
 * VPPR's (SDM 30.2.1: what evaluation would recognise); emulated: the
 * software APIC has a deliverable one. */
static bool hv_can_wake(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (vc->nmi_pending || vc->host_apic->init_pending)
        return true;
    if (!hv_guest_if(vc))
        return false;
    if (emu_hv_extint_pending(hv, vc))
        return true;
    switch (hv->mode) {
    case EMU_MODE_POSTED:
    case EMU_MODE_APICV: {
        hv_merge_pending_irr(hv, vc);
        int rvi = vmx_apicv_rvi(&vc->vmx);
        if (hv->mode == EMU_MODE_POSTED) {
            int pir = hv_pir_highest(hv, vc);
            if (pir > rvi)
                rvi = pir;
        }
        return (rvi >> 4) > (hv_vppr(vc) >> 4);
    }
    default: return apic_pending_vector(&vc->sw_apic) >= 0;
    }
}

void hv_block(emu_hv *hv, emu_hv_vcpu *vc)
{
    vc->blocked = true;
    vc->blocked_since = vc->vmx.cpu->cycles;
    /* KVM pi_pre_block: notifications become wakeup events. */
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_nv(&hv->m->phys, vc->pid_pa, EMU_HV_WAKEUP_VECTOR);
    hv_emit(hv, vc, EMU_HV_EV_BLOCK, 0, 0, 0);
}

static void hv_unblock(emu_hv *hv, emu_hv_vcpu *vc)
{
    vc->blocked = false;
    vc->vmx.cpu->halted = 0;
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_nv(&hv->m->phys, vc->pid_pa, EMU_HV_NOTIFY_VECTOR);
    hv_emit(hv, vc, EMU_HV_EV_WAKE, vc->vmx.cpu->cycles - vc->blocked_since, 0, 0);
}

void hv_deschedule(emu_hv *hv, emu_hv_vcpu *vc, uint64_t cycles)
{
    vc->descheduled = true;
    vc->desched_until = vc->vmx.cpu->cycles + cycles;
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_sn(&hv->m->phys, vc->pid_pa, true);
    hv_emit(hv, vc, EMU_HV_EV_DESCHED, vc->desched_until, hv->mode == EMU_MODE_POSTED, 0);
}

static void hv_reschedule(emu_hv *hv, emu_hv_vcpu *vc)
{
    vc->descheduled = false;
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_sn(&hv->m->phys, vc->pid_pa, false);
    hv_emit(hv, vc, EMU_HV_EV_RESCHED, 0, 0, 0);
}

/* Host interrupts taken in root operation while the vCPU is off the CPU:
 * the host's handlers acknowledge and EOI them (the wakeup vector's
 * handler makes the sleeper runnable: hv_can_wake looks at PIR). */
void hv_host_irqs_in_root(emu_hv *hv, emu_hv_vcpu *vc)
{
    while (apic_pending_vector(vc->host_apic) >= 0) {
        int vec = apic_acknowledge(vc->host_apic);
        apic_eoi(vc->host_apic);
        vc->host_irqs++;
        hv_emit(hv, vc, EMU_HV_EV_HOST_IRQ, (uint64_t)vec, 0, 0);
    }
}

/* The xAPIC page is where the guest's IA32_APIC_BASE puts it (SDM
 * 11.4.5 "Relocating the Local APIC Registers"), so the APIC-access
 * address follows a relocation (KVM instead inhibits APICv and emulates
 * the page: the guest sees the same registers). A base in the host's own
 * memory keeps the page where it was (the VMCS policy refuses such an
 * address; the guest's accesses there reach nothing). */
static void hv_follow_apic_base(emu_hv *hv, emu_hv_vcpu *vc)
{
    const cpu_phys *p = &hv->m->phys;
    uint64_t base = apic_base_address(&vc->sw_apic);
    if (base >= p->host_base && base - p->host_base < p->host_size)
        return;
    HV_VMCS_SET(vc, APIC_ACCESS_ADDR, base);
}

/* The guest's APIC mode decides the APIC controls (KVM
 * vmx_set_virtual_apic_mode): a globally disabled APIC (IA32_APIC_BASE.EN
 * = 0, SDM 11.4.3) decodes neither its xAPIC page nor the x2APIC MSRs, so
 * both "virtualize APIC accesses" and "virtualize x2APIC mode" are off in
 * every mode and its page is plain unclaimed MMIO (reads all ones, writes
 * go nowhere); an enabled one gets back the APIC-access page (xAPIC) or,
 * in apicv/posted modes, virtualize x2APIC mode and the x2APIC MSR bitmap.
 * emulated/tpr-shadow modes handle x2APIC through MSR exits and keep the
 * APIC-access page for an enabled APIC in either mode. */
void hv_set_x2apic_controls(emu_hv *hv, emu_hv_vcpu *vc, bool x2apic)
{
    unsigned k = hv_index(hv, vc);
    uint64_t proc2 = HV_VMCS(vc, PROC_CONTROLS2);
    uint64_t both = VMX_PROC2_VIRT_X2APIC | VMX_PROC2_VIRT_APIC_ACCESS;
    if (!apic_hw_enabled(&vc->sw_apic)) {
        HV_VMCS_SET(vc, PROC_CONTROLS2, proc2 & ~both);
        if (hv_apicv_mode(hv))
            x2apic = false; /* every x2APIC MSR intercepted: #GP */
        else
            return;
    } else if (!hv_apicv_mode(hv)) {
        HV_VMCS_SET(vc, PROC_CONTROLS2, proc2 | VMX_PROC2_VIRT_APIC_ACCESS);
        hv_follow_apic_base(hv, vc);
        return;
    } else if (x2apic) {
        HV_VMCS_SET(vc, PROC_CONTROLS2, (proc2 | VMX_PROC2_VIRT_X2APIC) & ~(uint64_t)VMX_PROC2_VIRT_APIC_ACCESS);
    } else {
        HV_VMCS_SET(vc, PROC_CONTROLS2, (proc2 | VMX_PROC2_VIRT_APIC_ACCESS) & ~(uint64_t)VMX_PROC2_VIRT_X2APIC);
        hv_follow_apic_base(hv, vc);
    }
    uint8_t *bm = cpu_phys_ptr_write(&hv->m->phys, vc->msr_bitmap_pa, CPU_PAGE_SIZE);
    for (uint32_t msr = APIC_MSR_X2APIC_FIRST; msr <= APIC_MSR_X2APIC_LAST; msr++) {
        bool pass_write = x2apic && (msr == 0x808 || msr == 0x80B || msr == 0x83F);
        /* Reads go through the virtual-APIC page, except the timer's
         * current count (839H), which only the software APIC knows (KVM
         * intercepts TMCCT reads too). */
        hv_msr_intercept(bm, msr, !x2apic || msr == 0x839, !pass_write);
    }
    /* The ID and LDR read as the x2APIC defines them (SDM 11.12.5.1,
     * 11.12.10.2). */
    if (x2apic) {
        vmx_vapic_write32(&vc->vmx, VMX_VAPIC_ID, k);
        vmx_vapic_write32(&vc->vmx, VMX_VAPIC_LDR, ((k >> 4) << 16) | (1u << (k & 15)));
    } else {
        vmx_vapic_write32(&vc->vmx, VMX_VAPIC_ID, k << 24);
    }
}

/* The guest's APIC timer (LVT timer, initial count, divide, TSC deadline)
 * runs on the software APIC in every mode, as KVM emulates the LAPIC
 * timer in software: when it fires, its vector goes to the vCPU by the
 * mode's path (emulated: the software APIC's IRR and a kick; apicv/posted:
 * VIRR or a post). */
static void hv_guest_timer(emu_hv *hv, emu_hv_vcpu *vc)
{
    apic_t *a = &vc->sw_apic;
    cpu_t *c = vc->vmx.cpu;
    if (apic_timer_deadline(a) > c->cycles)
        return;
    apic_timer_advance(a, c->cycles);
    hv_sw_apic_raised(hv, vc);
}

/* emulated/tpr-shadow: the software APIC is the guest's APIC, its IRR waits
 * for injection and a running vCPU is kicked to take it. apicv/posted: the
 * software APIC only sources interrupts (timer, LVT error), which leave its
 * IRR for VIRR or PIR. */
void hv_sw_apic_raised(emu_hv *hv, emu_hv_vcpu *vc)
{
    apic_t *a = &vc->sw_apic;
    if (!hv_apicv_mode(hv)) {
        if (apic_pending_vector(a) >= 0)
            hv_kick(hv, vc);
        return;
    }
    for (unsigned slot = 0; slot < 8; slot++) {
        uint32_t bits = a->irr[slot];
        a->irr[slot] = 0;
        while (bits) {
            unsigned b = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            hv_deliver(hv, hv_index(hv, vc), (uint8_t)(slot * 32 + b));
        }
    }
}

/* ---- VM entry and the run loop ----------------------------------------------- */

static void hv_count_exit(emu_hv_vcpu *vc, uint32_t basic)
{
    vc->exits++;
    if (basic < VMX_EXIT_NREASONS)
        vc->exit_count[basic]++;
}

/* One VM entry attempt: 0 on success (possibly already exited), else the
 * VM-instruction error, or the full exit reason of a failed guest-state
 * check (bit 31 set). */
static uint64_t hv_try_entry(emu_hv *hv, emu_hv_vcpu *vc)
{
    vmx_vcpu *v = &vc->vmx;
    hv_prepare_entry(hv, vc);
    unsigned err = vmx_vmentry(v, !vc->launched);
    if (err)
        return err;
    vc->launched = v->vmcs.launch_state == VMX_LAUNCH_LAUNCHED;
    uint32_t reason = (uint32_t)HV_VMCS(vc, EXIT_REASON);
    if (v->exited && (reason & VMX_EXIT_REASON_ENTRY_FAIL)) {
        hv_count_exit(vc, reason & VMX_EXIT_REASON_BASIC_MASK);
        vc->last_reason = reason & VMX_EXIT_REASON_BASIC_MASK;
        vc->last_qual = 0;
        return reason;
    }
    return 0;
}

/* VM entry. A failure caused by the guest's own VMCS_WRITE restores the old
 * value and resumes with -22 and the error in RDX (guest ABI); any other
 * failure is a crash. Returns false when the run ended. */
static bool hv_enter(emu_hv *hv, emu_hv_vcpu *vc)
{
    /* The guest ABI's address policy, checked again at every entry
     * whatever wrote the VMCS: a value that breaks it is refused as a bad
     * control (error 7) if the guest's pending write put it there, and is
     * the host's own bug otherwise. */
    char why[256];
    if (!hv_policy_check_entry(hv, vc, NULL, why, sizeof(why))) {
        if (vc->undo_valid) {
            vmx_vmcs_set(&vc->vmx.vmcs, vc->undo_field, vc->undo_value);
            vc->undo_valid = false;
            vc->vmx.cpu->gpr[CPU_RAX] = EMU_HC_EINVAL;
            vc->vmx.cpu->gpr[CPU_RDX] = VMX_ERR_ENTRY_INVALID_CONTROL;
        }
        if (!hv_policy_check_entry(hv, vc, NULL, why, sizeof(why))) {
            hv_crash(hv, vc, why);
            return false;
        }
    }
    uint64_t fail = hv_try_entry(hv, vc);
    if (fail && vc->undo_valid) {
        cpu_t *c = vc->vmx.cpu;
        vmx_vmcs_set(&vc->vmx.vmcs, vc->undo_field, vc->undo_value);
        vc->undo_valid = false;
        c->gpr[CPU_RAX] = EMU_HC_EINVAL;
        c->gpr[CPU_RDX] = fail;
        fail = hv_try_entry(hv, vc);
    }
    vc->undo_valid = false;
    if (fail) {
        char msg[160];
        snprintf(msg, sizeof(msg), "VM-entry failure the host did not expect (%s %llu, check %d)",
                 (fail & VMX_EXIT_REASON_ENTRY_FAIL) ? "exit reason" : "VM-instruction error",
                 (unsigned long long)(fail & 0xFFFF), (int)vc->vmx.last_check);
        hv_crash(hv, vc, msg);
        return false;
    }
    return true;
}

/* The exit-loop guard. Every exit the hypervisor handles must let the guest
 * go on: an emulated instruction is skipped, an event injected, a control
 * that caused the exit cleared. An exit after which the guest resumes at
 * the same RIP, with no instruction retired since the previous exit, for
 * the same reason, made no progress; EMU_HV_STALL_EXITS of them in a row
 * are a loop the host cannot break (a guest that made its own #GP handler
 * an intercepted instruction, say), and the run ends with status 3 and a
 * diagnostic instead of spinning until --max-cycles. Returns false then. */
static bool hv_exit_progress(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    uint64_t rip = HV_VMCS(vc, GUEST_RIP);
    if (rip != vc->stall_rip || c->insns != vc->stall_insns || vc->last_reason != vc->stall_reason) {
        vc->stall_rip = rip;
        vc->stall_insns = c->insns;
        vc->stall_reason = vc->last_reason;
        vc->stall_count = 0;
        return true;
    }
    if (++vc->stall_count < EMU_HV_STALL_EXITS)
        return true;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "exit loop: %u VM exits in a row, reason %u (%s), qualification %#llx, and no "
             "guest instruction retired between them",
             vc->stall_count, vc->last_reason, vmx_exit_reason_name(vc->last_reason),
             (unsigned long long)vc->last_qual);
    hv_crash(hv, vc, msg);
    return false;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

cpu_stop emu_hv_run_vcpu(emu_hv *hv, unsigned k, uint64_t limit)
{
    return emu_hv_run_vcpu_insns(hv, k, limit, UINT64_MAX);
}

cpu_stop emu_hv_run_vcpu_insns(emu_hv *hv, unsigned k, uint64_t limit, uint64_t max_insns)
{
    emu_machine *m = hv->m;
    emu_hv_vcpu *vc = &hv->vcpu[k];
    vmx_vcpu *v = &vc->vmx;
    cpu_t *c = v->cpu;
    const uint64_t insns_at_start = c->insns;
    while (!m->finished && c->cycles < limit) {
        uint64_t done = c->insns - insns_at_start;
        if (done >= max_insns)
            return CPU_STOP_INSNS;
        hv_apply_due_work(hv, vc);
        hv_guest_timer(hv, vc);
        if (m->finished)
            break;
        uint64_t next = min_u64(limit, emu_hv_next_work(hv, k));
        next = min_u64(next, apic_timer_deadline(&vc->sw_apic));
        if (hv->machine_queue) {
            /* The machine applies its own events: back to its scheduler. */
            uint64_t mnext = emu_evq_next_cycle(&m->evq[k]);
            if (mnext <= c->cycles)
                break;
            next = min_u64(next, mnext);
        }
        if (vc->descheduled) {
            if (c->cycles >= vc->desched_until) {
                hv_reschedule(hv, vc);
                continue;
            }
            hv_host_irqs_in_root(hv, vc);
            c->cycles = min_u64(next, vc->desched_until);
            continue;
        }
        if (vc->blocked) {
            hv_host_irqs_in_root(hv, vc);
            if (!hv_can_wake(hv, vc)) {
                /* Halted as the machine's scheduler sees it: nothing but
                 * an event can wake it (its own armed timer can). */
                c->halted = apic_timer_deadline(&vc->sw_apic) == UINT64_MAX;
                c->cycles = next;
                continue;
            }
            hv_unblock(hv, vc);
        }
        if (!v->non_root && !hv_enter(hv, vc))
            break;
        cpu_stop s = vmx_run_insns(v, next, max_insns == UINT64_MAX ? UINT64_MAX : max_insns - done);
        if (v->exited) {
            if (!hv_handle_exit(hv, vc) || !hv_exit_progress(hv, vc))
                break;
            v->exited = false;
            if (vc->desched_requested) {
                vc->desched_requested = false;
                hv_deschedule(hv, vc, vc->desched_request);
            }
            continue;
        }
        if (s == CPU_STOP_INSNS)
            return s;
        if (s == CPU_STOP_HOOK) {
            /* Someone asked the CPU to stop (emu_machine_pause): the
             * vCPU stays in non-root operation; its caller resumes it. */
            break;
        }
        if (s == CPU_STOP_HALT) {
            c->cycles = next; /* in the HLT activity state without HLT exiting */
        } else if (s == CPU_STOP_TRIPLE_FAULT || s == CPU_STOP_UNIMPLEMENTED) {
            hv_crash(hv, vc,
                     s == CPU_STOP_TRIPLE_FAULT
                         ? "triple fault (an exception could not be delivered: is the IDT loaded?)"
                         : "unimplemented instruction (--strict)");
            break;
        }
    }
    return m->finished ? CPU_STOP_HOOK : CPU_STOP_CYCLES;
}
