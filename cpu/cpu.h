/*
 * cpu.h — the x86-64 interpreter: what the cpu/ layer offers to the layers above.
 *
 * A cpu_t is one logical processor: registers, lazy flags, control registers,
 * MSRs it owns, a TLB, a decoded-instruction cache and a cycle counter. It
 * executes guest code out of a shared cpu_phys (guest RAM). Everything the
 * CPU cannot decide alone — devices, the local APIC, VMX non-root rules — is
 * asked through cpu_hooks, a narrow interface installed by apic/, vmx/ and
 * emu/. With no hooks the CPU is a bare x86-64 (native mode, no devices).
 *
 * The CPU never reads host time and keeps no global state besides the
 * immutable opcode tables, so two machines can run side by side.
 */
#ifndef APICV_CPU_H
#define APICV_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu/cpu_obs.h"

/* ---- registers --------------------------------------------------------- */

enum cpu_gpr {
    CPU_RAX, CPU_RCX, CPU_RDX, CPU_RBX, CPU_RSP, CPU_RBP, CPU_RSI, CPU_RDI,
    CPU_R8, CPU_R9, CPU_R10, CPU_R11, CPU_R12, CPU_R13, CPU_R14, CPU_R15,
};

enum cpu_segreg { CPU_ES, CPU_CS, CPU_SS, CPU_DS, CPU_FS, CPU_GS, CPU_NSEG };

/* RFLAGS bits (SDM Vol. 1 3.4.3). */
enum {
    CPU_FL_CF = 1u << 0, CPU_FL_FIXED1 = 1u << 1, CPU_FL_PF = 1u << 2, CPU_FL_AF = 1u << 4,
    CPU_FL_ZF = 1u << 6, CPU_FL_SF = 1u << 7, CPU_FL_TF = 1u << 8, CPU_FL_IF = 1u << 9,
    CPU_FL_DF = 1u << 10, CPU_FL_OF = 1u << 11, CPU_FL_IOPL = 3u << 12, CPU_FL_NT = 1u << 14,
    CPU_FL_RF = 1u << 16, CPU_FL_VM = 1u << 17, CPU_FL_AC = 1u << 18, CPU_FL_VIF = 1u << 19,
    CPU_FL_VIP = 1u << 20, CPU_FL_ID = 1u << 21,
};
#define CPU_FL_ARITH (CPU_FL_CF | CPU_FL_PF | CPU_FL_AF | CPU_FL_ZF | CPU_FL_SF | CPU_FL_OF)

/* Control register bits used by the interpreter (SDM Vol. 3A 2.5). */
enum {
    CPU_CR0_PE = 1u << 0, CPU_CR0_MP = 1u << 1, CPU_CR0_EM = 1u << 2, CPU_CR0_TS = 1u << 3,
    CPU_CR0_ET = 1u << 4, CPU_CR0_NE = 1u << 5, CPU_CR0_WP = 1u << 16, CPU_CR0_AM = 1u << 18,
    CPU_CR0_NW = 1u << 29, CPU_CR0_CD = 1u << 30, CPU_CR0_PG = 1u << 31,
};
enum {
    CPU_CR4_VME = 1u << 0, CPU_CR4_PVI = 1u << 1, CPU_CR4_TSD = 1u << 2, CPU_CR4_DE = 1u << 3,
    CPU_CR4_PSE = 1u << 4, CPU_CR4_PAE = 1u << 5, CPU_CR4_MCE = 1u << 6, CPU_CR4_PGE = 1u << 7,
    CPU_CR4_PCE = 1u << 8, CPU_CR4_OSFXSR = 1u << 9, CPU_CR4_OSXMMEXCPT = 1u << 10,
    CPU_CR4_VMXE = 1u << 13, CPU_CR4_FSGSBASE = 1u << 16, CPU_CR4_PCIDE = 1u << 17,
};
/* Debug-register bits (SDM Vol. 3B 17.2.3 DR6, 17.2.4 DR7). DR6 reads
 * bits 31:16 and 11:4 as 1 (no RTM, no bus-lock detection), bit 12 as 0;
 * DR7 reads bit 10 as 1 and 15:14, 12, 11 as 0. */
enum {
    CPU_DR6_B0_3 = 0xFu, CPU_DR6_BD = 1u << 13, CPU_DR6_BS = 1u << 14,
    CPU_DR6_FIXED1 = 0xFFFF0FF0u, CPU_DR6_WRITABLE = 0xE00Fu,
    CPU_DR7_GD = 1u << 13, CPU_DR7_FIXED1 = 0x400u, CPU_DR7_WRITABLE = 0xFFFF23FFu,
};
enum { CPU_EFER_SCE = 1u << 0, CPU_EFER_LME = 1u << 8, CPU_EFER_LMA = 1u << 10, CPU_EFER_NXE = 1u << 11 };

/* Architectural MSR numbers the CPU itself owns. */
enum {
    CPU_MSR_TSC = 0x10,
    CPU_MSR_APIC_BASE = 0x1B, /* owned by apic/, reached through hooks */
    CPU_MSR_FEATURE_CONTROL = 0x3A,
    CPU_MSR_SYSENTER_CS = 0x174, CPU_MSR_SYSENTER_ESP = 0x175, CPU_MSR_SYSENTER_EIP = 0x176,
    CPU_MSR_DEBUGCTL = 0x1D9,
    CPU_MSR_PAT = 0x277,
    CPU_MSR_TSC_DEADLINE = 0x6E0, /* owned by apic/ */
    CPU_MSR_EFER = 0xC0000080, CPU_MSR_STAR = 0xC0000081, CPU_MSR_LSTAR = 0xC0000082,
    CPU_MSR_CSTAR = 0xC0000083, CPU_MSR_SFMASK = 0xC0000084, CPU_MSR_FS_BASE = 0xC0000100,
    CPU_MSR_GS_BASE = 0xC0000101, CPU_MSR_KERNEL_GS_BASE = 0xC0000102,
    CPU_MSR_TSC_AUX = 0xC0000103,
};

/* Exception vectors (SDM Vol. 3A 6.3.1). */
enum {
    CPU_EXC_DE = 0, CPU_EXC_DB = 1, CPU_EXC_NMI = 2, CPU_EXC_BP = 3, CPU_EXC_OF = 4,
    CPU_EXC_BR = 5, CPU_EXC_UD = 6, CPU_EXC_NM = 7, CPU_EXC_DF = 8, CPU_EXC_TS = 10,
    CPU_EXC_NP = 11, CPU_EXC_SS = 12, CPU_EXC_GP = 13, CPU_EXC_PF = 14, CPU_EXC_MF = 16,
    CPU_EXC_AC = 17, CPU_EXC_MC = 18, CPU_EXC_XM = 19,
};

/* #PF error code bits (SDM Vol. 3A 4.7). */
enum { CPU_PF_P = 1, CPU_PF_W = 2, CPU_PF_U = 4, CPU_PF_RSVD = 8, CPU_PF_I = 16 };

typedef struct cpu_seg {
    uint16_t sel;
    uint16_t attr; /* type(3:0) S(4) DPL(6:5) P(7) AVL(8) L(9) D/B(10) G(11), as in VMCS access rights >> 0 with bits 11:8 from 15:12 */
    uint32_t limit;
    uint64_t base;
} cpu_seg;

typedef struct cpu_dtr {
    uint64_t base;
    uint16_t limit;
} cpu_dtr;

/* Execution modes (SDM Vol. 3A 2.2 "Modes of Operation", 5.2.1 for the
 * code-segment D and L flags). cpu_t.mode is derived from CR0.PE, EFER.LMA,
 * CS.L and CS.D by cpu_update_mode(), never set on its own. The decoder
 * knows every mode's defaults; docs/cpu-model.md says which ones execute.
 * The values are part of replay digests: extend, never renumber. */
typedef enum cpu_mode {
    CPU_MODE_REAL,     /* CR0.PE = 0 */
    CPU_MODE_PROT16,   /* protected mode, CS.D = 0 */
    CPU_MODE_PROT32,   /* protected mode, CS.D = 1 */
    CPU_MODE_COMPAT32, /* IA-32e compatibility mode, CS.L = 0, CS.D = 1 */
    CPU_MODE_LONG64,   /* IA-32e 64-bit mode, CS.L = 1 */
    CPU_MODE_COMPAT16, /* IA-32e compatibility mode, CS.L = 0, CS.D = 0 */
    CPU_MODE_COUNT
} cpu_mode;

/* Segment attribute bits of cpu_seg.attr. */
enum {
    CPU_SEG_ACCESSED = 1u << 0, CPU_SEG_S = 1u << 4, CPU_SEG_P = 1u << 7,
    CPU_SEG_L = 1u << 9, CPU_SEG_DB = 1u << 10, CPU_SEG_G = 1u << 11,
};

/* ---- guest physical memory ------------------------------------------- */

#define CPU_PAGE_SHIFT 12
#define CPU_PAGE_SIZE 4096u
#define CPU_MAX_CPUS 8
/* Physical-address width reported by CPUID 80000008H (SDM Vol. 3A 4.1.4). */
#define CPU_MAXPHYADDR 39

struct cpu;

#define CPU_MAX_WATCH 8 /* data watchpoints (cpu_watch_set) */
#define CPU_WATCH_READ 1u
#define CPU_WATCH_WRITE 2u

/*
 * Guest RAM shared by all CPUs of a machine. Physical addresses beyond
 * ram_size, and pages a hook classifies as trapping, go to hooks->mmio;
 * unbacked addresses read as all ones and ignore writes.
 *
 * code_gen[p] counts invalidations of decoded code on page p: a decoded block
 * is valid while the generation it was decoded under is current. Writes that
 * hit a page holding decoded code (code_page[p] != 0) take the slow path and
 * bump the generation, so self-modifying and cross-modifying code work.
 */
typedef struct cpu_phys {
    uint8_t *ram;
    uint64_t ram_size;
    /* Host-owned memory (VMCS-referenced pages: virtual-APIC pages,
     * posted-interrupt descriptors, MSR/I-O bitmaps, EPT tables). It has
     * host-physical addresses host_base.. but no guest access ever reaches
     * it: guest accesses beyond ram_size go to hooks->mmio. */
    uint8_t *host;
    uint64_t host_base, host_size, host_used;
    uint64_t npages;
    uint8_t *code_page;
    uint32_t *code_gen;
    struct cpu *cpus[CPU_MAX_CPUS]; /* the CPUs whose TLBs must hear about new code pages */
    unsigned ncpus;
    /* Data watchpoints (cpu_watch_set): ranges of RAM whose reads and
     * writes by instructions take the slow path and are noted in
     * watch_seen[i] (CPU_WATCH_READ, CPU_WATCH_WRITE). */
    unsigned nwatch;
    uint64_t watch_pa[CPU_MAX_WATCH];
    unsigned watch_len[CPU_MAX_WATCH];
    uint8_t watch_seen[CPU_MAX_WATCH];
} cpu_phys;

/*
 * Data watchpoints for a debugger: what the debug registers DR0-DR3 do for
 * linear addresses (SDM Vol. 3B 17.2.4, R/W = 11b "break on data reads or
 * writes"), here on n physical ranges of RAM (1 to 8 bytes each), which
 * replace the previous ones (n = 0: none). Every CPU's TLB is flushed, and
 * the TLB gives a watched page no fast read or write path, so each data
 * access an instruction makes there goes through cpu_phys_load/store, which
 * sets CPU_WATCH_READ or CPU_WATCH_WRITE in watch_seen[i] of each range it
 * overlaps (the caller clears them). Instruction fetches and page walks
 * are not data accesses; nothing is noted for them. False when n is over
 * CPU_MAX_WATCH or a length is not 1..8.
 */
bool cpu_watch_set(cpu_phys *p, unsigned n, const uint64_t *pa, const unsigned *len);

/* Allocates ram_size bytes of zeroed RAM (rounded up to a page) and
 * host_size bytes of host-owned memory at host-physical CPU_HOST_BASE. */
#define CPU_HOST_BASE 0x4000000000ull /* 256 GiB: above any guest RAM */
bool cpu_phys_init(cpu_phys *p, uint64_t ram_size, uint64_t host_size);
void cpu_phys_free(cpu_phys *p);
/* For pages first..first+n-1 of RAM: out[k] = 0 when page first+k was
 * never touched by the host (it reads as zeros), 1 when it may hold data.
 * Lets digests and snapshots of a large, mostly unused RAM skip what was
 * never written without reading it (Linux pagemap; elsewhere every page is
 * 1). False when the range is outside RAM. */
bool cpu_phys_backed_pages(const cpu_phys *p, uint64_t first, uint64_t n, uint8_t *out);
/* Allocates zeroed, page-aligned host-owned memory; returns its
 * host-physical address, or 0 when the host area is exhausted. */
uint64_t cpu_phys_host_alloc(cpu_phys *p, uint64_t size);
/* Read-only host pointer to [pa, pa+len) in guest RAM or host memory, NULL
 * when the range is not wholly backed. For hypervisor and VMX use, not
 * guest accesses (those go through paging and the hooks). */
const void *cpu_phys_ptr(cpu_phys *p, uint64_t pa, uint64_t len);
/* The same range for writing, for every writer of memory that is not the
 * CPU's own store (virtual-APIC pages, posted-interrupt descriptors, the
 * hypervisor, loaders): decoded code on those pages is invalidated now
 * (cpu_phys_written), so write through the pointer at once, before any CPU
 * runs again. */
void *cpu_phys_ptr_write(cpu_phys *p, uint64_t pa, uint64_t len);
/* Says that [pa, pa+len) was written behind the CPUs' backs: decoded
 * blocks of those pages are dropped on every CPU, and a CPU in a run ends
 * its current block after the current instruction (cross-modifying code,
 * SDM Vol. 3A 8.1.3). Ranges outside guest RAM hold no code. */
void cpu_phys_written(cpu_phys *p, uint64_t pa, uint64_t len);

/* ---- cost model -------------------------------------------------------- */

/* Classes of instruction cost; docs/cost-model.md gives each default and
 * where it comes from. */
typedef enum cpu_cost_class {
    CPU_COST_SIMPLE,    /* register ALU, MOV, LEA, flag ops, NOP */
    CPU_COST_BRANCH,    /* Jcc, JMP, CALL, RET, LOOP */
    CPU_COST_MUL,       /* MUL, IMUL */
    CPU_COST_DIV,       /* DIV, IDIV */
    CPU_COST_SHIFT,     /* shifts, rotates, bit scans, POPCNT */
    CPU_COST_STRING,    /* per iteration of a string instruction */
    CPU_COST_STACK,     /* PUSH, POP, PUSHF, POPF, ENTER, LEAVE */
    CPU_COST_ATOMIC,    /* LOCKed RMW, XCHG with memory, CMPXCHG */
    CPU_COST_IO,        /* IN, OUT */
    CPU_COST_SYSTEM,    /* MOV CR, LGDT, WRMSR, RDMSR, CPUID, INVLPG, ... */
    CPU_COST_SERIALIZE, /* IRETQ, CPUID-like serialising instructions */
    CPU_COST_INTERRUPT, /* delivery of an exception or interrupt through the IDT */
    CPU_COST_MEM,       /* extra cost of a memory operand */
    /* Costs of VMX transitions, charged by vmx/ (not instruction classes:
     * no decoded instruction has them). */
    CPU_COST_VMENTRY,   /* VM entry: VMLAUNCH/VMRESUME to the first guest instruction */
    CPU_COST_VMEXIT,    /* VM exit: to the first instruction of the host */
    /* The time the built-in hypervisor (emu/emu_hv*.c) spends in root
     * operation handling one VM exit, by exit reason, between the exit and
     * the next VM entry; charged by emu/ on the vCPU's clock. */
    CPU_COST_HV_EXTINT,      /* exit 1: the host's handler of the interrupt */
    CPU_COST_HV_WINDOW,      /* exits 7, 8: interrupt/NMI window, the event injected next */
    CPU_COST_HV_APIC_ACCESS, /* exit 44: decode and emulate the instruction */
    CPU_COST_HV_APIC_WRITE,  /* exit 56: the write's side effects (ICR: send the IPI) */
    CPU_COST_HV_EOI,         /* exit 45: EOI of a level-triggered vector (I/O APIC) */
    CPU_COST_HV_MSR,         /* exits 31, 32: RDMSR/WRMSR (x2APIC registers, TSC deadline) */
    CPU_COST_HV_IO,          /* exit 30: a port I/O instruction (device model) */
    CPU_COST_HV_VMCALL,      /* exit 18: a hypercall */
    CPU_COST_HV_HLT,         /* exit 12: HLT, the vCPU blocks */
    CPU_COST_HV_TPR,         /* exit 43: TPR below threshold */
    CPU_COST_HV_PREEMPT,     /* exit 52: VMX-preemption timer expired */
    CPU_COST_HV_OTHER,       /* any other exit (CPUID, CR access, PAUSE, MTF, NMI, ...) */
    CPU_COST_HV_INJECT,      /* preparing a VM entry that injects an event */
    /* Interrupt hardware, charged where it happens. */
    CPU_COST_IPI,            /* an IPI's trip from the sender to the target CPU */
    CPU_COST_PI_PROCESS,     /* posted-interrupt processing (SDM 29.6), on the receiver */
    CPU_COST_VID,            /* virtual-interrupt delivery (SDM 29.2.2), before the IDT delivery */
    /* The processor's own extra work for some VM exits and entries, on top
     * of vmexit / vmentry (format version 5; a trace of an earlier version
     * ran with them at 0). Charged by vmx/. */
    CPU_COST_VMENTRY_CHECKS, /* an entry whose VM-execution, exit or entry controls changed */
    CPU_COST_EXIT_EXCEPTION, /* exit 0: exception or NMI, interruption information recorded */
    CPU_COST_EXIT_EXTINT,    /* exit 1 with "acknowledge interrupt on exit": the APIC acknowledged */
    CPU_COST_EXIT_EPT,       /* exits 48, 49: the EPT walk that found the violation */
    CPU_COST_EXIT_APIC_ACCESS, /* exit 44: fault-like, the access not done */
    CPU_COST_EXIT_APIC_WRITE,  /* exit 56: trap-like, after the write to the virtual-APIC page */
    CPU_COST_NCLASSES
} cpu_cost_class;

/* The first class that may be 0: those before it (the instruction classes
 * but mem, VM entry, VM exit) cost at least a cycle so that every
 * instruction and every VMX transition moves the clock; the classes from
 * here on add to a transition or a delivery that already does. They are
 * also the classes a version-1 trace did not have (it ran with them at 0). */
#define CPU_COST_FIRST_OPTIONAL CPU_COST_HV_EXTINT
/* The first class a trace of format version 2 to 4 did not have (it ran
 * with them at 0): the processor's per-exit-reason and entry extras. */
#define CPU_COST_FIRST_V5 CPU_COST_VMENTRY_CHECKS

/* The largest cost of a class, in cycles. */
#define CPU_COST_MAX 10000u

typedef struct cpu_cost_model {
    uint16_t cost[CPU_COST_NCLASSES];
} cpu_cost_model;

/* Opens an input file (guest image, scenario, trace, cost model) for
 * reading, or refuses it at once with a message naming the path and what
 * it is: anything but a regular file (a FIFO would block forever, a device
 * such as /dev/zero never ends). cpu_file.c. */
FILE *cpu_open_input(const char *path, char *err, size_t errlen);

/* The documented default cost model. */
void cpu_cost_default(cpu_cost_model *m);
/* Reads "class cycles" (or "class = cycles") lines from path; on error
 * writes a message naming file, line and field into err and returns false. */
bool cpu_cost_load(cpu_cost_model *m, const char *path, char *err, size_t errlen);
/* True when every class is within its range (cpu_cost_valid): then every
 * instruction and every VMX transition moves the clock. Else names the
 * first class out of range in err. */
bool cpu_cost_check(const cpu_cost_model *m, char *err, size_t errlen);
/* The range of one class's cost: 1..CPU_COST_MAX cycles; 0..CPU_COST_MAX
 * for mem and the classes from CPU_COST_FIRST_OPTIONAL on (cost files and
 * trace headers are checked against it). */
bool cpu_cost_valid(cpu_cost_class c, unsigned long cycles);
/* The smallest valid cost of a class: 0 or 1. */
unsigned cpu_cost_min(cpu_cost_class c);
/* The name of a cost class ("simple", "branch", ...), for files and `info`. */
const char *cpu_cost_name(cpu_cost_class c);
/* What a class is charged for, one line, for `info`. */
const char *cpu_cost_what(cpu_cost_class c);

/* ---- hooks: how the layers above take part ---------------------------- */

typedef enum cpu_page_kind {
    CPU_PAGE_RAM,  /* plain memory: may get a TLB fast path */
    CPU_PAGE_TRAP, /* every access goes to hooks->mmio (local APIC page, APIC-access page, MMIO) */
} cpu_page_kind;

typedef enum cpu_access {
    CPU_ACC_READ,
    CPU_ACC_WRITE,
    CPU_ACC_FETCH,
    CPU_ACC_WALK, /* a page-walk (guest-physical) access */
} cpu_access;

/* Instructions and events a hook may intercept (VMX non-root exits). */
typedef enum cpu_icpt_kind {
    CPU_ICPT_CPUID, CPU_ICPT_HLT, CPU_ICPT_INVD, CPU_ICPT_WBINVD, CPU_ICPT_INVLPG,
    CPU_ICPT_RDTSC, CPU_ICPT_RDTSCP, CPU_ICPT_RDPMC, CPU_ICPT_PAUSE, CPU_ICPT_VMCALL,
    CPU_ICPT_CR_READ, CPU_ICPT_CR_WRITE, CPU_ICPT_CLTS, CPU_ICPT_LMSW,
    CPU_ICPT_RDMSR, CPU_ICPT_WRMSR, CPU_ICPT_IO,
    CPU_ICPT_VMX_INSN,    /* VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH, VMRESUME, INVEPT, INVVPID, VMFUNC */
    CPU_ICPT_DESC_TABLE,  /* LGDT, LIDT, SGDT, SIDT, LLDT, LTR, SLDT, STR */
    CPU_ICPT_EXCEPTION,   /* an exception is about to be delivered through the IDT */
    CPU_ICPT_TRIPLE_FAULT,
    CPU_ICPT_MONITOR, CPU_ICPT_MWAIT, CPU_ICPT_XSETBV,
    CPU_ICPT_IRET,        /* notification after an IRET completed (NMI unblocking); return PASS */
    CPU_ICPT_DR,          /* MOV to/from DR0-DR7: cr = the DR number, reg = the GPR, in = from DR */
    CPU_ICPT_NKINDS
} cpu_icpt_kind;

typedef struct cpu_icpt {
    cpu_icpt_kind kind;
    uint8_t len;       /* instruction length */
    uint8_t size;      /* I/O: 1, 2 or 4 */
    uint8_t reg;       /* CR access: the GPR; MOV CR: cr number in cr */
    uint8_t cr;        /* CR number (0, 2, 3, 4, 8) */
    bool in;           /* I/O: IN */
    bool string;       /* I/O: INS/OUTS */
    bool rep;          /* I/O: REP prefix */
    bool imm_port;     /* I/O: the port came from an immediate (not DX) */
    uint16_t port;     /* I/O port */
    uint32_t msr;      /* RDMSR/WRMSR: ECX */
    uint32_t subop;    /* VMX insn: which one (opcode / ModRM reg); DESC_TABLE: which one;
                        * EXCEPTION: 0 for a hardware exception, else the event type
                        * of INT3/INTO (6) or INT1 (5), whose length is in len */
    uint32_t vector;   /* EXCEPTION: vector; error code in value (#DB: the DR6 bits it
                        * reports, B3-B0, BD, BS: what a VM exit's qualification holds) */
    bool has_error;    /* EXCEPTION: error code valid */
    uint64_t value;    /* in/out: CR/MSR/I-O value; hook stores results here for reads.
                        * VMX insn, out: 1 with CPU_HOOK_PASS when non-root operation
                        * executes it without an exit (VMREAD/VMWRITE of a shadow VMCS):
                        * the CPU then goes on as in VMX operation, through hooks.vmx */
    uint64_t addr;     /* INVLPG: linear address; memory operand address where one exists */
} cpu_icpt;

/*
 * A VMX instruction in VMX root operation (or VMXON outside VMX operation),
 * for hooks.vmx (SDM Vol. 3C 31.3, each instruction's "Operation"). The CPU
 * has made the checks that need only itself, in the SDM's order: #UD in
 * real, virtual-8086 and compatibility mode and outside VMX operation (VMXON:
 * with CR4.VMXE = 0), the VM exit in non-root operation (the intercept),
 * #GP(0) at CPL > 0, VMXON's IA32_FEATURE_CONTROL and fixed-CR checks; then
 * it read the memory operands (their faults come first). The hook does the
 * rest and says how the instruction ends; the CPU writes VMREAD's and
 * VMPTRST's destination and RFLAGS.
 */
typedef struct cpu_vmx_op {
    uint32_t insn;      /* basic exit reason of the instruction (SDM appendix C):
                         * 18 VMCALL, 19 VMCLEAR, 20 VMLAUNCH, 21 VMPTRLD, 22 VMPTRST,
                         * 23 VMREAD, 24 VMRESUME, 25 VMWRITE, 26 VMXOFF, 27 VMXON,
                         * 50 INVEPT, 53 INVVPID */
    bool mov_ss;        /* events are blocked by MOV SS (VMLAUNCH/VMRESUME) */
    uint64_t ptr;       /* VMXON, VMCLEAR, VMPTRLD: the physical address in memory */
    uint64_t field;     /* VMREAD, VMWRITE: the encoding; INVEPT, INVVPID: the type */
    uint64_t value;     /* VMWRITE: the source; out: VMREAD's result, VMPTRST's pointer */
    uint64_t desc[2];   /* INVEPT, INVVPID: the 128-bit descriptor */
} cpu_vmx_op;

/* How a VMX instruction ends (SDM Vol. 3C 31.2 "Conventions"). */
typedef enum cpu_vmx_result {
    CPU_VMX_SUCCEED,      /* VMsucceed: CF, PF, AF, ZF, SF, OF = 0 */
    CPU_VMX_FAIL_INVALID, /* VMfailInvalid: CF = 1, the others 0 */
    CPU_VMX_FAIL_VALID,   /* VMfailValid: ZF = 1, the others 0 (the hook wrote the error field) */
    CPU_VMX_DEFERRED,     /* the hook ends the run and completes the instruction outside it
                           * (a VM entry): RFLAGS is left alone */
} cpu_vmx_result;

typedef enum cpu_hook_result {
    CPU_HOOK_PASS, /* not intercepted: the CPU performs the instruction itself */
    CPU_HOOK_DONE, /* the hook emulated it (reads: result in value); the CPU completes it */
    CPU_HOOK_EXIT, /* the hook ended the run (a VM exit): the instruction is abandoned */
} cpu_hook_result;

typedef struct cpu_hooks {
    /* Classifies a physical page when the TLB is filled. NULL: RAM is
     * RAM, everything else traps. */
    cpu_page_kind (*page_kind)(void *ctx, struct cpu *c, uint64_t paddr);
    /* A trapping access. Reads store into *val. Returns false when nobody
     * owns the address (reads then see all ones, writes vanish). A hook
     * may end the run (VM exit) with cpu_abort_insn(). */
    bool (*mmio)(void *ctx, struct cpu *c, uint64_t paddr, unsigned size, cpu_access acc,
                 uint64_t *val);
    /* Port I/O. Returns false when no device owns the port. */
    bool (*io)(void *ctx, struct cpu *c, uint16_t port, unsigned size, bool in, uint32_t *val);
    /* MSRs the CPU does not own (APIC, VMX capabilities). false → #GP(0). */
    bool (*rdmsr)(void *ctx, struct cpu *c, uint32_t msr, uint64_t *val);
    bool (*wrmsr)(void *ctx, struct cpu *c, uint32_t msr, uint64_t val);
    /* Called when an intercept kind enabled in cpu->icpt_mask happens. */
    cpu_hook_result (*intercept)(void *ctx, struct cpu *c, cpu_icpt *info);
    /* Called at an instruction boundary when cpu->events has CPU_EVT_HOOK or
     * CPU_EVT_INTR set: the hook decides what the CPU takes (external
     * interrupts, virtual interrupts, VM exits) and clears the bits it has
     * dealt with. */
    void (*events)(void *ctx, struct cpu *c);
    /* Guest-physical to host-physical translation (EPT). NULL: identity.
     * Returns false when it ended the run (EPT violation exit). */
    bool (*translate)(void *ctx, struct cpu *c, uint64_t gpa, cpu_access acc, uint64_t *hpa);
    /* An instruction the interpreter does not implement was met; the CPU
     * raises #UD after this returns (unless the hook stopped the run). */
    void (*unimplemented)(void *ctx, struct cpu *c, const uint8_t *bytes, unsigned len);
    /* A VMX instruction in VMX root operation (cpu_vmx_op). NULL: this
     * machine offers no VMX root operation to its guest (VMXON is reported
     * as unimplemented, and VMX operation is never entered). */
    cpu_vmx_result (*vmx)(void *ctx, struct cpu *c, cpu_vmx_op *op);
    void *ctx;
} cpu_hooks;

/* Bits of cpu->events: reasons to look up at the next instruction boundary. */
enum {
    CPU_EVT_INTR = 1u << 0,   /* an interrupt source may have something */
    CPU_EVT_HOOK = 1u << 1,   /* the hook asked to be called (VMX work) */
    CPU_EVT_SHADOW = 1u << 2, /* STI / MOV SS blocking covers the next instruction */
    CPU_EVT_DEBUG = 1u << 3,  /* RFLAGS.TF or a pending debug trap: every boundary is looked at */
};

/* cpu->shadow_kind: what blocks interrupts for one instruction (SDM Vol. 3A
 * 6.8.3), as the VMCS's interruptibility state tells them apart (24.4.2). */
enum { CPU_SHADOW_STI = 1, CPU_SHADOW_MOV_SS = 2 };

/* Why cpu_run returned. */
typedef enum cpu_stop {
    CPU_STOP_NONE,
    CPU_STOP_CYCLES,       /* reached the cycle limit */
    CPU_STOP_INSNS,        /* executed the requested number of instructions */
    CPU_STOP_HALT,         /* in the HLT state with nothing to take */
    CPU_STOP_HOOK,         /* a hook stopped the run (VM exit, exit port, breakpoint) */
    CPU_STOP_TRIPLE_FAULT, /* shutdown */
    CPU_STOP_UNIMPLEMENTED, /* strict mode and an unimplemented instruction */
    CPU_STOP_YIELD          /* after a PAUSE that yields (pause_yield_at below) */
} cpu_stop;

/* ---- the CPU ----------------------------------------------------------- */

#define CPU_TLB_ENTRIES 256

typedef struct cpu_tlb_entry {
    uint64_t tag_read;  /* virtual page with the low bits clear; CPU_TLB_INVALID when none */
    uint64_t tag_write;
    uint64_t tag_fetch;
    uintptr_t host_adj; /* host address of byte va is va + host_adj */
    uint64_t paddr;     /* physical page */
} cpu_tlb_entry;
#define CPU_TLB_INVALID 1ull /* never equal to a page-aligned address */
/* How many filled TLB entries a CPU tracks so that a flush clears only
 * those (cpu_tlb_flush); past that a flush clears all of them. */
#define CPU_TLB_TRACK 64

/* What a set of cached translations was made under (cpu_tlb_switch):
 * w[0] the paging controls and CPL (cpu_tlb_key_of), w[1] CR3, w[2] and
 * w[3] the caller's (a VPID, an EPTP, ...). Compared exactly. */
typedef struct cpu_tlb_key {
    uint64_t w[4];
} cpu_tlb_key;

/* A second set of TLB entries kept aside (cpu_tlb_switch). */
typedef struct cpu_tlb_bank {
    cpu_tlb_entry e[CPU_TLB_ENTRIES]; /* invalid outside used[] */
    uint16_t nused;
    uint8_t used[CPU_TLB_TRACK];
    bool valid;
    cpu_tlb_key key;
} cpu_tlb_bank;

struct cpu_block;
struct cpu_insn;

typedef struct cpu {
    /* hot state first */
    uint64_t gpr[16];
    uint64_t rip;
    uint64_t next_rip; /* RIP after the current instruction; branches write it */
    uint64_t cycles;   /* this CPU's cycle counter: the clock RDTSC reads */
    uint64_t cycle_limit;
    uint32_t events;   /* CPU_EVT_* */
    uint8_t exit_block; /* the current instruction ended its block (a trap, a store to MMIO) */
    uint8_t cpl;
    uint8_t halted;
    uint8_t mode;       /* cpu_mode */

    /* lazy flags (cpu_flags.c): rflags holds every bit except the six
     * arithmetic ones while lf_op != 0; those come from the last result. */
    uint64_t rflags;
    uint64_t lf_res, lf_src1, lf_src2;
    uint32_t lf_op;

    cpu_tlb_entry tlb[CPU_TLB_ENTRIES];
    uint64_t insns; /* retired instructions */
    uint64_t insn_limit;

    cpu_seg seg[CPU_NSEG];
    cpu_seg ldtr, tr;
    cpu_dtr gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer;
    uint64_t pdpte[4]; /* PAE paging's PDPTE registers (SDM 4.4.1), loaded by cpu_load_pdptes */
    /* The linear address being translated when hooks.translate is called
     * (xlat_linear = 1; 0 for accesses that have none, the PDPTE loads):
     * what an EPT violation reports (SDM 27.2.1 qualification bits 7-8, the
     * guest-linear-address field). Set on the TLB-miss path only. */
    uint64_t xlat_va;
    uint8_t xlat_linear;
    /* Debug registers (SDM Vol. 3B 17.2): dr[4], dr[5] unused (DR4/DR5
     * alias DR6/DR7 when CR4.DE = 0); IA32_DEBUGCTL (17.4.1). */
    uint64_t dr[8];
    uint64_t debugctl;
    /* The DR6 bits of the #DB being raised as a fault (cpu_debug.c),
     * written into DR6 when it is delivered through the IDT. */
    uint32_t db_payload;
    /* Debug traps (cpu_debug.c): the instruction executing began with
     * RFLAGS.TF = 1 (a single-step trap follows it, SDM 17.3.1.4); and the
     * pending debug exceptions, in the format of the VMCS field (SDM
     * 24.4.2: B3-B0 in 3:0, enabled breakpoint 12, BS 14), delivered as a
     * #DB at the next instruction boundary not blocked by MOV SS. A VM
     * entry loads them, a VM exit saves them. */
    uint8_t dbg_tf;
    uint32_t dbg_pending;
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux, pat;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_offset; /* added to cycles for RDTSC (native: 0) */

    uint32_t icpt_mask; /* bit per cpu_icpt_kind: call hooks.intercept */
    cpu_hooks hooks;
    cpu_phys *phys;
    cpu_obs_bus *obs;
    const cpu_cost_model *costs;
    unsigned index; /* CPU number in the machine */
    bool strict;    /* an unimplemented instruction stops the run */

    cpu_stop stop;
    jmp_buf abort_jmp;
    /* A spin-wait hint for the owner's scheduler: a PAUSE retired at or
     * after cycle pause_yield_at ends the run (CPU_STOP_YIELD) right after
     * it and moves pause_yield_at pause_yield_gap cycles on. UINT64_MAX
     * (cpu_init's value): PAUSE never yields. Only PAUSE reads them. */
    uint64_t pause_yield_at, pause_yield_gap;
    bool nmi_blocked;    /* NMI delivery blocked until the next IRET (SDM Vol. 3A 6.7.1) */
    uint64_t misc_enable, mtrr_def_type;
    uint64_t feature_control; /* IA32_FEATURE_CONTROL (SDM 23.7): lock 0, VMXON outside SMX 2 */
    /* VMX operation (SDM 23.7, 23.8), set by the owner of hooks.vmx: in VMX
     * operation (after VMXON), and the CR0/CR4 bits fixed there
     * (IA32_VMX_CR0_FIXED0/1, IA32_VMX_CR4_FIXED0/1): VMXON requires them and
     * a MOV to CR0/CR4 that breaks them in VMX operation is #GP(0). */
    bool vmx_operation;
    uint64_t vmx_cr0_fixed0, vmx_cr0_fixed1, vmx_cr4_fixed0, vmx_cr4_fixed1;
    uint8_t shadow_arm;  /* the instruction just executed began a new STI/MOV-SS shadow */
    uint8_t shadow_kind; /* CPU_SHADOW_STI or CPU_SHADOW_MOV_SS (VMX interruptibility) */
    int pending_vector;  /* exception raised by the current instruction, or -1 */
    uint32_t pending_error;
    bool pending_has_error;
    int in_delivery; /* nesting of exception delivery, for #DF and triple fault */
    int8_t delivery_old_cpl; /* CPL before a delivery that faulted mid-frame, or -1 */
    bool in_run;     /* inside cpu_run: faults can be delivered at once */
    bool inject_pending; /* an event queued by cpu_deliver_event outside a run */
    uint8_t inject_vector, inject_type, inject_len;
    bool inject_has_error;
    uint32_t inject_error;
    int first_fault; /* vector of the fault being delivered, or -1 */
    uint64_t unimplemented_count;

    struct cpu_dcache *dcache; /* decoded blocks */
    struct cpu_block *cur_block; /* the block executing (to count retired instructions after a fault) */
    uint32_t tlb_epoch;        /* bumped on every TLB flush: cached successors check it */
    /* tlb_epoch's 64-bit value (cur), the last one handed out (next: a
     * value is never handed out twice, so links of another context never
     * match), and the oldest one still trustworthy (floor: raised when a
     * flush, a code write or a decoded-block flush ends every link).
     * cpu_epoch_mark / cpu_epoch_resume use them. */
    struct {
        uint64_t cur, next, floor;
    } epoch;
    /* The TLB slots cpu_translate filled since the last flush (a slot may
     * appear twice); tlb_nused > CPU_TLB_TRACK: more, or unknown. A VM
     * entry or exit flushes the TLB and finds only a few to clear. */
    uint16_t tlb_nused;
    /* A fast write path was filled for a read-only page while CR0.WP = 0
     * (cpu_tlb_wp_set must drop the write paths when WP is set). */
    bool tlb_wp_grants;
    uint8_t tlb_used[CPU_TLB_TRACK];
    /* The other translation context of VMX with VPIDs (cpu_tlb_switch). */
    cpu_tlb_bank tlb_alt;
} cpu_t;

/* Creates a CPU attached to phys (up to CPU_MAX_CPUS per phys), in the
 * reset state of the guest ABI's 64-bit entry. */
bool cpu_init(cpu_t *c, unsigned index, cpu_phys *phys, const cpu_cost_model *costs,
              cpu_obs_bus *obs);
void cpu_free(cpu_t *c);
/* Installs hooks (copied). */
void cpu_set_hooks(cpu_t *c, const cpu_hooks *h);

/* ---- architectural states (cpu_state.c) ---------------------------------- */

/* The mode CR0.PE, EFER.LMA, CS.L and CS.D select (SDM Vol. 3A 2.2, 9.8.5). */
cpu_mode cpu_mode_of(uint64_t cr0, uint64_t efer, uint16_t cs_attr);
/* Recomputes c->mode after a change of CR0, EFER or CS. Every path that
 * changes one of them calls it (layers above included: a loader or a
 * VM entry that writes them directly). A change of mode ends the block and
 * starts a new successor epoch, so code decoded in the old mode is never
 * run in the new one. */
void cpu_update_mode(cpu_t *c);
/* Sets a segment register's visible and hidden parts (a loader, a VM
 * entry, INIT/SIPI) and recomputes the mode when it is CS. */
void cpu_set_segment(cpu_t *c, unsigned sreg, uint16_t sel, uint64_t base, uint32_t limit,
                     uint16_t attr);
/* The state after RESET (init = false) or INIT (init = true), SDM Vol. 3A
 * 9.1.1 Table 9-1: real mode at F000:FFF0 with CS.base FFFF0000, EDX the
 * CPUID signature, every other GPR 0, CR0 60000010H (INIT keeps CD and
 * NW), EFER 0. The cycle counter (the TSC's clock) is not reset, and INIT
 * keeps the MSRs Table 9-1 says it keeps (PAT, SYSENTER, STAR...). */
void cpu_reset(cpu_t *c, bool init);
/* An AP after RESET (init = false) or any CPU after INIT (init = true):
 * cpu_reset(c, init) and the wait-for-SIPI state (SDM Vol. 3A 9.4.1): it
 * executes nothing until cpu_start_sipi. */
void cpu_wait_for_sipi(cpu_t *c, bool init);
/* What a STARTUP IPI with vector v does to a CPU waiting for it (SDM Vol.
 * 3A 10.6.1, 8.4.4.1): real mode at CS = v << 8 (base v << 12), IP = 0. */
void cpu_start_sipi(cpu_t *c, uint8_t vector);
/* The Multiboot (v1) machine state (Multiboot spec 3.2 "Machine state"):
 * 32-bit protected mode with paging off, CS a flat 32-bit execute/read
 * segment (selector 0x08), DS/ES/FS/GS/SS flat 32-bit read/write
 * segments (selector 0x10), EFLAGS.IF = VM = 0, CPL 0, EIP = eip. The
 * caller sets EAX and EBX. */
void cpu_enter_flat32(cpu_t *c, uint32_t eip);
/* Whether this interpreter executes code in mode m (docs/cpu-model.md). A
 * CPU in a mode it does not execute stops with CPU_STOP_UNIMPLEMENTED and
 * an unimplemented event naming the mode. */
bool cpu_mode_executes(cpu_mode m);
/* NULL when the interpreter executes the CPU's current state, else why not
 * (a mode, or a corner of a mode, not implemented yet): the diagnostic to
 * print when cpu_run returns CPU_STOP_UNIMPLEMENTED outside 64-bit mode. */
const char *cpu_unexecuted_reason(const cpu_t *c);
/* "real", "protected-16", "protected-32", "compat-32", "64-bit", "compat-16". */
const char *cpu_mode_name(cpu_mode m);

/* Runs until cycles >= cycle_limit, max_insns retired, HLT with nothing
 * pending, a hook stop or shutdown. Deterministic for the same state. */
cpu_stop cpu_run(cpu_t *c, uint64_t cycle_limit, uint64_t max_insns);

/* Stops the run after the current instruction completes. */
void cpu_request_stop(cpu_t *c, cpu_stop why);
/* From inside a hook: abandon the current instruction and return from
 * cpu_run with why (e.g. a VM exit). Does not return. */
_Noreturn void cpu_abort_insn(cpu_t *c, cpu_stop why);

/* From inside a hook: abandon the current instruction and raise an
 * exception in the guest instead (e.g. #GP for a virtualized WRMSR). */
_Noreturn void cpu_raise_exception(cpu_t *c, unsigned vector, bool has_error, uint32_t error);

/* Asks for a look at the next instruction boundary (bits CPU_EVT_*). */
static inline void cpu_signal(cpu_t *c, uint32_t evt)
{
    c->events |= evt;
}

/* RFLAGS with lazily computed arithmetic flags materialised. */
uint64_t cpu_get_rflags(cpu_t *c);
/* The same value without folding the lazy flags into c (for observers:
 * the window and the digests read the CPU, they never change it). */
uint64_t cpu_peek_rflags(const cpu_t *c);
void cpu_set_rflags(cpu_t *c, uint64_t v);

/* True when an external interrupt can be taken now: RFLAGS.IF = 1 and no
 * STI/MOV-SS blocking (SDM Vol. 3A 6.8.3). */
bool cpu_interruptible(cpu_t *c);
/* Delivers an external interrupt through the IDT (SDM Vol. 3A 6.12) and
 * leaves the HLT state. Must be called at an instruction boundary (from the
 * events hook or between runs). */
void cpu_deliver_interrupt(cpu_t *c, uint8_t vector);
/* Delivers an event of a given type (used by VM-entry event injection):
 * type as in VMCS interruption information (0 ext, 2 NMI, 3 hw exception,
 * 4 soft int, 5 priv soft exc, 6 soft exc); insn_len for software events. */
void cpu_deliver_event(cpu_t *c, uint8_t vector, unsigned type, bool has_error,
                       uint32_t error, unsigned insn_len);

/* Loads the PDPTE registers of PAE paging from the table at CR3 (SDM
 * 4.4.1), as MOV to CR0/CR3/CR4 do while PAE paging is in use, and
 * flushes the TLB. False, with the registers unchanged, when a present
 * PDPTE has a reserved bit set (the MOV would be #GP(0)). For the layers
 * that write CR0/CR3/CR4 directly (a VM entry without EPT, SDM 26.3.2.4);
 * with EPT a VM entry sets c->pdpte from the VMCS instead. */
bool cpu_load_pdptes(cpu_t *c);

/* Flushes every TLB entry and the successor links of decoded blocks, and
 * forgets the context kept aside by cpu_tlb_switch. */
void cpu_tlb_flush(cpu_t *c);
/* A MOV to CR0 set WP: drops the TLB's fast write paths that WP = 0
 * granted for read-only pages (all write paths, when there is one). */
void cpu_tlb_wp_set(cpu_t *c);
/* Translation contexts for VMX with VPIDs (SDM Vol. 3C 28.3.1: cached
 * mappings are tagged with the VPID, so a VM entry or exit need not
 * invalidate them). The current TLB is kept aside labelled key_out; the
 * one kept aside before becomes current if it is labelled key_in, else
 * the TLB starts empty. One context is kept aside at a time. */
void cpu_tlb_switch(cpu_t *c, const cpu_tlb_key *key_out, const cpu_tlb_key *key_in);
/* The label of the current translations: paging controls (CR0.PG/WP/PE,
 * CR4's paging bits, EFER.NXE/LMA), CPL and CR3, with the caller's two
 * words (the hooks' own inputs: VPID, EPTP, ...). */
cpu_tlb_key cpu_tlb_key_of(const cpu_t *c, uint64_t extra0, uint64_t extra1);
/* A context's successor-link epoch with what the links assumed besides
 * the translations: the mode and CS base and limit (cpu_epoch_mark). */
typedef struct cpu_epoch_mark {
    uint64_t epoch, cs_base;
    uint32_t cs_limit;
    uint8_t mode;
} cpu_epoch_mark;
/* For VMX with VPIDs, whose contexts come back whole (cpu_tlb_switch):
 * cpu_epoch_mark notes the current epoch before the CPU leaves a context
 * (its state is still that context's); cpu_epoch_resume, once the CPU is
 * back in the context with its translations, makes the noted epoch
 * current again, so the decoded blocks' successor links made there are
 * used again instead of looked up. It does so only when nothing since
 * the mark could have changed what they assumed: no TLB flush (of either
 * context), no write to a code page, no decoded-block flush, a context
 * switch that brought the same translations back, and the same mode and
 * CS base and limit; else it does nothing. */
cpu_epoch_mark cpu_epoch_mark_now(const cpu_t *c);
void cpu_epoch_resume(cpu_t *c, const cpu_epoch_mark *m);
/* Installs hooks without flushing the TLB: for a caller that switches
 * translation contexts itself (cpu_tlb_switch) along with them. */
void cpu_swap_hooks(cpu_t *c, const cpu_hooks *h);
/* Flushes the translation of one linear address (INVLPG). */
void cpu_tlb_flush_page(cpu_t *c, uint64_t va);
/* Drops every decoded block of this CPU (after a cost model change). */
void cpu_dcache_flush(cpu_t *c);

/* Linear memory access for the layers above (debuggers, the window, VMX
 * event delivery): false on a page fault, without raising it. */
bool cpu_peek_linear(cpu_t *c, uint64_t va, void *buf, size_t len);
/* The physical address of linear address va by the same walk; false when
 * va is not mapped (a debugger's memory write goes through it). */
bool cpu_linear_to_phys(cpu_t *c, uint64_t va, uint64_t *pa);
/* Physical access to RAM only; false when not backed by RAM. */
bool cpu_phys_read(cpu_phys *p, uint64_t pa, void *buf, size_t len);
bool cpu_phys_write(cpu_phys *p, uint64_t pa, const void *buf, size_t len);

/* ---- instruction emulation for a hypervisor ------------------------------ */

typedef enum cpu_emul_result {
    CPU_EMUL_DONE,        /* executed: registers, RFLAGS, memory and RIP updated (a REP
                           * that paused keeps RIP at itself with the iterations done) */
    CPU_EMUL_EXCEPTION,   /* it faulted (vector, error code in the info; CR2 for #PF):
                           * RIP at the instruction, for the caller to inject */
    CPU_EMUL_UNSUPPORTED, /* not an instruction a hypervisor may complete: a branch or
                           * system instruction, an invalid encoding, or called in a run */
    CPU_EMUL_ABORTED,     /* a hook abandoned it (cpu_abort_insn) */
} cpu_emul_result;

typedef struct cpu_emul_info {
    uint8_t len;      /* the instruction's length, once fetched */
    uint8_t vector;   /* CPU_EMUL_EXCEPTION: the exception */
    bool has_error;
    uint32_t error;
} cpu_emul_info;

/*
 * Executes the one instruction at c->rip, decoded in c's current mode by
 * the interpreter's own decoder, with hooks in place of c's hooks for its
 * accesses (page_kind and mmio claim the pages the caller emulates, io the
 * ports) and no intercepts: what a VMM does after a fault-like VM exit
 * such as an APIC access (SDM Vol. 3C 29.4, KVM's x86 emulator). Only
 * instructions that change general registers, RFLAGS, RIP and memory are
 * executed; the caller writes RIP, RSP and RFLAGS back wherever it keeps
 * them. c's cycle and retired-instruction counters do not move: the
 * instruction completes in the VMM, whose time the caller charges. Between
 * runs only (not from inside a hook).
 */
cpu_emul_result cpu_emulate_insn(cpu_t *c, const cpu_hooks *hooks, cpu_emul_info *info);

/* An MSR as RDMSR / WRMSR at CPL 0 reach it, without the instructions'
 * intercept (VMX MSR bitmaps): this CPU's own MSRs, then hooks.rdmsr /
 * hooks.wrmsr. False where the instruction would raise #GP(0) (nothing
 * changes then); a write emits CPU_EV_MSR_WRITE as WRMSR does. For the
 * VM-entry/VM-exit MSR lists of vmx/ (SDM 26.4, 27.4, 27.6). */
bool cpu_msr_get(cpu_t *c, uint32_t msr, uint64_t *val);
bool cpu_msr_set(cpu_t *c, uint32_t msr, uint64_t val);

/* CPUID as this CPU answers it (the documented model in docs/cpu-model.md). */
void cpu_cpuid(const cpu_t *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* Disassembles one instruction with Capstone into buf ("mov eax, 1") as
 * code of `mode` (a cpu_mode: 16-bit for real, 16-bit protected and 16-bit
 * compatibility mode, 32-bit for the 32-bit ones, 64-bit in 64-bit mode);
 * returns its length or 0. For people, never for the hot path. */
unsigned cpu_disasm(unsigned mode, const uint8_t *bytes, size_t len, uint64_t rip, char *buf,
                    size_t buflen);
/* The linear address of the instruction at offset rip in the current code
 * segment: CS.base is added and the sum wraps at 4 GBytes outside 64-bit
 * mode (SDM Vol. 3A 3.4.4), for diagnostics and the window. */
uint64_t cpu_code_linear(const cpu_t *c, uint64_t rip);
/* Length of the instruction at bytes as the interpreter decodes it (0 when
 * it cannot), for the Capstone cross-check and diagnostics. */
unsigned cpu_decode_length(cpu_mode mode, const uint8_t *bytes, size_t len, bool *implemented);

/* Names for logs. */
const char *cpu_stop_name(cpu_stop s);
const char *cpu_exception_name(unsigned vector);

#endif
