/*
 * emu_hv.c — the built-in hypervisor's set-up: per-vCPU VMCS set-up as
 * KVM's vmx.c does it, the root-operation hooks, the APIC controls that
 * follow the guest's APIC mode (IA32_APIC_BASE), and the hypervisor's
 * event names and crash diagnostic. The interrupt paths are in
 * emu_hv_irq.c, timed work and the run loop in emu_hv_run.c, exit handlers
 * in emu_hv_exit.c, emu_hv_apic.c and emu_hv_hypercall.c.
 * docs/hypervisor.md describes the whole design.
 */
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
void hv_charge(emu_hv_vcpu *vc, cpu_cost_class k)
{
    cpu_t *c = vc->vmx.cpu;
    c->cycles += c->costs->cost[k];
}

void hv_emit(emu_hv *hv, emu_hv_vcpu *vc, unsigned kind, uint64_t a, uint64_t b,
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
uint32_t hv_ndst(emu_hv_vcpu *vc)
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

/* ---- the guest's APIC mode -------------------------------------------------- */


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
 * emulated/tpr-shadow modes handle x2APIC through MSR exits; an x2APIC
 * does not decode its xAPIC page either (SDM 11.12.1.2), so that page is
 * unclaimed MMIO there too and virtualize APIC accesses is off (as KVM's
 * LAPIC_MODE_X2APIC case): with it on, TPR shadow would virtualize a write
 * at offset 80H into VTPR (SDM 29.4.3.1) and CR8 would see it. */
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
        if (x2apic) {
            HV_VMCS_SET(vc, PROC_CONTROLS2, proc2 & ~both);
            return;
        }
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
