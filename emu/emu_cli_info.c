/*
 * emu_cli_info.c — `apicv-emu info`: the modes, the machine, what is
 * implemented, the VMX capabilities and the cost model.
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_cli.h"
#include "vmx/vmx.h"
#include "vmx/vmx_vmcs.h"

/* One line per mode for `info` (docs/hypervisor.md has the whole story). */
static const char *mode_summary(emu_mode mode)
{
    switch (mode) {
    case EMU_MODE_NATIVE:
        return "no hypervisor: the guest drives the physical CPUs and local APICs";
    case EMU_MODE_EMULATED:
        return "VMX, no APIC virtualization: every APIC access and EOI exits";
    case EMU_MODE_TPR_SHADOW:
        return "VMX with TPR shadow: MOV CR8 without exits, TPR-below-threshold exits";
    case EMU_MODE_APICV:
        return "VMX with APIC-register and virtual-interrupt delivery (RVI/SVI, EOI virt)";
    case EMU_MODE_POSTED:
        return "apicv plus posted interrupts (PIR/ON, notification vector, SN); the default";
    default:
        return "?";
    }
}

/* The APIC-virtualization controls as the capability MSRs report them
 * (allowed-1 bits, SDM Vol. 3D A.3.1-A.3.3): read from vmx/, not restated. */
static void print_vmx_capabilities(void)
{
    static const struct {
        uint32_t msr;
        uint32_t bit;
        const char *name;
    } ctl[] = {
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_EXT_INTR_EXITING, "external-interrupt exiting"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_NMI_EXITING, "NMI exiting"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_VIRTUAL_NMIS, "virtual NMIs"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_PREEMPT_TIMER, "VMX-preemption timer"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_POSTED_INTR, "process posted interrupts"},
        {VMX_MSR_TRUE_PROCBASED_CTLS, VMX_PROC_TPR_SHADOW, "use TPR shadow"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VIRT_APIC_ACCESS, "virtualize APIC accesses"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VIRT_X2APIC, "virtualize x2APIC mode"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_APIC_REG_VIRT, "APIC-register virtualization"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VIRT_INTR_DELIVERY, "virtual-interrupt delivery"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_EPT, "enable EPT"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VPID, "enable VPID"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_UNRESTRICTED, "unrestricted guest"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VMCS_SHADOW, "VMCS shadowing"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_PML, "page-modification logging"},
    };
    printf("\nVMX capabilities (IA32_VMX_* MSRs 480H-491H, docs/vmx.md):\n");
    for (unsigned k = 0; k < sizeof(ctl) / sizeof(ctl[0]); k++) {
        uint64_t cap = 0;
        bool known = vmx_capability_msr(ctl[k].msr, &cap);
        bool allowed = known && ((cap >> 32) & ctl[k].bit);
        printf("  %-30s %s\n", ctl[k].name, allowed ? "supported" : "not implemented (must be 0)");
    }
    printf("  raw:");
    for (uint32_t msr = VMX_MSR_BASIC; msr <= VMX_MSR_VMFUNC; msr++) {
        uint64_t v = 0;
        if (vmx_capability_msr(msr, &v))
            printf("%s %03XH=%016llx", (msr - VMX_MSR_BASIC) % 3 == 0 ? "\n   " : "", msr,
                   (unsigned long long)v);
    }
    printf("\n");
}

int emu_cli_info(int argc, char **argv)
{
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    const char *cost_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: apicv-emu info [--cost-model FILE]\n\nPrints the modes, the CPU model, what "
                   "is implemented and the cost model:\nthe default one, or the one FILE makes "
                   "(docs/cost-model.md).\n");
            return 0;
        }
        if (strcmp(argv[i], "--cost-model") == 0 && i + 1 < argc) {
            char err[512];
            cost_file = argv[++i];
            if (!cpu_cost_load(&costs, cost_file, err, sizeof(err))) {
                fprintf(stderr, "apicv-emu info: --cost-model: %s\n", err);
                return EMU_EXIT_USAGE;
            }
            continue;
        }
        fprintf(stderr, "apicv-emu info: unexpected argument '%s' (see apicv-emu info --help)\n", argv[i]);
        return EMU_EXIT_USAGE;
    }
    printf("apicv-emu %s\n\n", APICV_VERSION);
    printf("modes:\n");
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
        printf("  %-11s %s\n", emu_mode_name((emu_mode)k),
               mode_summary((emu_mode)k));
    printf("\nmachine: 1..%d CPUs, each with a local APIC (xAPIC and x2APIC, timer one-shot,\n"
           "  periodic and TSC-deadline); a deterministic round-robin scheduler on one cycle\n"
           "  clock; devices: console 0xE9, exit 0xF4, MSI device 0xF0, COM1 16550A 0x3F8\n"
           "  (receives run --serial-input FILE), fw_cfg 0x510, 8259A pair 0x20/0xA0 (edge\n"
           "  or level: ICW1.LTIM, ELCR 0x4D0/0x4D1), test device 0x2000, I/O APIC\n"
           "  0xFEC00000 (docs/machine.md)\n",
           CPU_MAX_CPUS);
    printf("interpreter: x86-64: 64-bit, compatibility (32- and 16-bit code), 32- and 16-bit\n"
           "  protected (paging off, 32-bit or PAE paging) and real mode; general-purpose\n"
           "  instruction set, no x87/SSE (docs/cpu-model.md)\n");
    emu_cpu_model_print(stdout);
    printf("VMX: the built-in hypervisor runs every mode but native (docs/hypervisor.md);\n"
           "  vmx/ implements TPR shadow, APIC-register and x2APIC virtualization,\n"
           "  virtual-interrupt delivery and posted interrupts (docs/vmx.md)\n");
    printf("VMX root operation for the guest (native mode, unless --cpu max,-vmx):\n"
           "  VMXON/VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD/VMWRITE, VMLAUNCH/VMRESUME,\n"
           "  INVEPT, INVVPID, VMCALL (VMfail) in 64-bit mode; VM exits load the host state of the\n"
           "  guest's VMCS (guests/vmx_teach.c); MSR load/store lists, VMX abort;\n"
           "  INIT blocked in root, posted interrupts\n"
           "  from other CPUs; VMCS shadowing (its guest's VMREAD/VMWRITE reach the\n"
           "  shadow VMCS). Not yet: 32-bit VMX instructions (docs/vmx.md\n"
           "  \"VMX root operation\")\n");
    printf("scenarios, run --record, replay --verify, trace-dump: implemented (docs/scenarios.md)\n");
    printf("import-kvm: real KVM traces (trace-cmd report, ftrace) into scenarios, the mode\n"
           "  inferred from their exits (docs/import-kvm.md)\n");
    printf("not implemented: virtual-8086 mode, task switches, 64-bit call gates and\n"
           "  far RET to another privilege level in IA-32e mode (reported as\n"
           "  unimplemented), SYSCALL/SYSENTER, x87/SSE; the built-in hypervisor's EPT\n"
           "  is an identity map, for Multiboot kernels only (docs/hypervisor.md)\n");
    print_vmx_capabilities();
    if (cost_file)
        printf("\ncost model (cycles) of %s; the defaults elsewhere:\n", cost_file);
    else
        printf("\ncost model (cycles; defaults, sources in docs/cost-model.md; override with\n"
               "  --cost-model FILE, lines of 'class cycles'):\n");
    for (unsigned k = 0; k < CPU_COST_NCLASSES; k++)
        printf("  %-16s %5u  %s\n", cpu_cost_name((cpu_cost_class)k), costs.cost[k],
               cpu_cost_what((cpu_cost_class)k));
    return 0;
}
