/*
 * cpu_mem.c — linear memory: 4-level paging, the TLB and its host-pointer
 * fast path, physical accesses to RAM, trap pages and MMIO.
 *
 * SDM Vol. 3A chapter 4 "Paging": 4.5 (4-level paging), 4.6 (access
 * rights), 4.7 (page-fault exceptions), 4.8 (accessed and dirty flags), 4.10
 * (caching translation information).
 */
#include "cpu/cpu_internal.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)
#define PTE_ADDR (((1ull << CPU_MAXPHYADDR) - 1) & ~0xFFFull)
/* Bits 51:MAXPHYADDR are reserved in every paging-structure entry (SDM 4.5). */
#define PTE_RSVD_HIGH (((1ull << 52) - 1) & ~((1ull << CPU_MAXPHYADDR) - 1))

/* ---- physical accesses ------------------------------------------------------ */

static bool page_is_ram(cpu_t *c, uint64_t pa)
{
    if (pa >= c->phys->ram_size)
        return false;
    if (c->hooks.page_kind)
        return c->hooks.page_kind(c->hooks.ctx, c, pa & ~0xFFFull) == CPU_PAGE_RAM;
    return true;
}

/* ---- data watchpoints ---------------------------------------------------------- */

bool cpu_watch_set(cpu_phys *p, unsigned n, const uint64_t *pa, const unsigned *len)
{
    if (n > CPU_MAX_WATCH)
        return false;
    for (unsigned i = 0; i < n; i++)
        if (len[i] < 1 || len[i] > 8)
            return false;
    for (unsigned i = 0; i < n; i++) {
        p->watch_pa[i] = pa[i];
        p->watch_len[i] = len[i];
        p->watch_seen[i] = 0;
    }
    p->nwatch = n;
    for (unsigned k = 0; k < p->ncpus; k++)
        cpu_tlb_flush(p->cpus[k]);
    return true;
}

/* Physical page page (its address) holds a watched byte. */
static bool watched_page(const cpu_phys *p, uint64_t page)
{
    for (unsigned i = 0; i < p->nwatch; i++)
        if (((p->watch_pa[i] & ~0xFFFull) == page) ||
            (((p->watch_pa[i] + p->watch_len[i] - 1) & ~0xFFFull) == page))
            return true;
    return false;
}

/* A data access of size bytes at pa: note the ranges it overlaps. */
static void watch_note(cpu_phys *p, uint64_t pa, unsigned size, cpu_access acc)
{
    if (acc != CPU_ACC_READ && acc != CPU_ACC_WRITE)
        return;
    for (unsigned i = 0; i < p->nwatch; i++)
        if (pa < p->watch_pa[i] + p->watch_len[i] && p->watch_pa[i] < pa + size)
            p->watch_seen[i] |= acc == CPU_ACC_READ ? CPU_WATCH_READ : CPU_WATCH_WRITE;
}

uint64_t cpu_phys_load(cpu_t *c, uint64_t pa, unsigned size, cpu_access acc)
{
    if (unlikely(c->phys->nwatch))
        watch_note(c->phys, pa, size, acc);
    if (page_is_ram(c, pa) && (pa & 0xFFF) + size <= 0x1000)
        return cpu_load_host(c->phys->ram + pa, size);
    uint64_t v = 0;
    if (c->hooks.mmio && c->hooks.mmio(c->hooks.ctx, c, pa, size, acc, &v))
        return v & cpu_size_mask(size);
    return cpu_size_mask(size); /* unbacked: all ones (SDM: no device answers) */
}

void cpu_phys_store(cpu_t *c, uint64_t pa, unsigned size, uint64_t v)
{
    if (unlikely(c->phys->nwatch))
        watch_note(c->phys, pa, size, CPU_ACC_WRITE);
    if (page_is_ram(c, pa) && (pa & 0xFFF) + size <= 0x1000) {
        uint64_t page = pa >> CPU_PAGE_SHIFT;
        if (c->phys->code_page[page]) {
            /* Self-modifying code: the rest of this block may be stale. */
            cpu_code_page_written(c->phys, page);
            cpu_end_block(c);
        }
        cpu_store_host(c->phys->ram + pa, size, v);
        return;
    }
    /* A store to a trap page or MMIO may change interrupt state: the run
     * loop must look before the next instruction. */
    cpu_end_block(c);
    if (c->hooks.mmio) {
        uint64_t val = v & cpu_size_mask(size);
        c->hooks.mmio(c->hooks.ctx, c, pa, size, CPU_ACC_WRITE, &val);
    }
}

/* Guest-physical to host-physical (EPT when a hook provides it). */
static uint64_t to_host_phys(cpu_t *c, uint64_t gpa, cpu_access acc)
{
    uint64_t hpa = gpa;
    if (c->hooks.translate && !c->hooks.translate(c->hooks.ctx, c, gpa, acc, &hpa))
        cpu_abort_insn(c, CPU_STOP_HOOK);
    return hpa;
}

/* ---- the page walk ------------------------------------------------------------- */

static _Noreturn void page_fault(cpu_t *c, uint64_t va, uint32_t err)
{
    c->cr2 = va;
    cpu_fault(c, CPU_EXC_PF, err);
}

typedef struct walk_result {
    uint64_t pa;       /* physical address of va */
    bool writable;     /* for this CPL and CR0.WP */
    bool wp_granted;   /* writable only because CR0.WP = 0 (R/W clear) */
    bool user_ok;      /* accessible at CPL 3 */
    bool executable;
    bool dirty;
} walk_result;

/* The paging-structure entries one translation used (SDM 4.1.1 Table 4-1:
 * the paging mode picks their size and number). */
typedef struct walk_path {
    uint64_t ent[4];   /* guest-physical address of each entry read (PDPTE registers excluded) */
    unsigned n;        /* entries in ent[]; ent[n-1] maps the page */
    unsigned esize;    /* 8, or 4 with 32-bit paging */
    uint64_t leaf;     /* the entry that maps the page */
    uint64_t page_mask;
    uint64_t base;     /* physical address of the page */
    bool rw, us, xd;
} walk_path;

enum { WALK_OK, WALK_NOT_PRESENT, WALK_RSVD, WALK_UNREADABLE };

/* Reads a paging-structure entry at guest-physical address gpa: through EPT
 * and the hooks for a real walk, straight from RAM (no side effects) for a
 * peek. */
static bool walk_read(cpu_t *c, uint64_t gpa, unsigned esize, bool peek, uint64_t *e)
{
    *e = 0;
    if (peek)
        return cpu_phys_read(c->phys, gpa, e, esize);
    uint64_t hpa = to_host_phys(c, gpa, CPU_ACC_WALK);
    *e = cpu_phys_load(c, hpa, esize, CPU_ACC_WALK);
    return true;
}

/* Sets the accessed (and dirty) bits of an entry in RAM (SDM 4.8). */
static void walk_set_bits(cpu_t *c, uint64_t gpa, unsigned esize, uint64_t bits)
{
    uint64_t hpa = to_host_phys(c, gpa, CPU_ACC_WALK);
    if (hpa + esize <= c->phys->ram_size) {
        uint64_t e = cpu_load_host(c->phys->ram + hpa, esize);
        if ((e & bits) != bits)
            cpu_phys_store(c, hpa, esize, e | bits);
    }
}

/* 4-level paging (SDM 4.5): PML4E, PDPTE (1-GByte pages), PDE (2-MByte
 * pages), PTE; reserved bits per Tables 4-14 to 4-20. */
static int walk_4level(cpu_t *c, uint64_t va, bool peek, uint64_t rsvd, walk_path *w)
{
    uint64_t table = c->cr3;
    for (unsigned level = 0; level < 4; level++) {
        uint64_t ea = (table & PTE_ADDR) + ((va >> (39 - 9 * level)) & 511) * 8;
        uint64_t e;
        if (!walk_read(c, ea, 8, peek, &e))
            return WALK_UNREADABLE;
        w->ent[w->n++] = ea;
        if (!(e & PTE_P))
            return WALK_NOT_PRESENT;
        uint64_t r = rsvd;
        if (level == 0)
            r |= PTE_PS; /* PML4E: PS reserved */
        else if ((e & PTE_PS) && level == 1)
            r |= 0x3FFFE000ull; /* 1-GByte page: bits 29:13 */
        else if ((e & PTE_PS) && level == 2)
            r |= 0x1FE000ull; /* 2-MByte page: bits 20:13 */
        if (e & r)
            return WALK_RSVD;
        w->rw = w->rw && (e & PTE_RW);
        w->us = w->us && (e & PTE_US);
        w->xd = w->xd || (e & PTE_XD);
        if (level == 3 || (level > 0 && (e & PTE_PS))) {
            w->page_mask = level == 1 ? 0x3FFFFFFF : level == 2 ? 0x1FFFFF : 0xFFF;
            w->leaf = e;
            w->base = e & PTE_ADDR & ~w->page_mask;
            return WALK_OK;
        }
        table = e;
    }
    return WALK_OK; /* not reached: level 3 always returns */
}

/* PAE paging (SDM 4.4): the PDPTE comes from the four PDPTE registers
 * loaded from CR3 (SDM 4.4.1; their reserved bits were checked then, and
 * their A bits are never written), then the PDE (2-MByte pages) and the
 * PTE, 8 bytes each, with XD (SDM 4.4.2 Tables 4-9 to 4-11). */
static int walk_pae(cpu_t *c, uint64_t va, bool peek, walk_path *w)
{
    /* Bits 62:MAXPHYADDR are reserved (62:52 too, unlike 4-level paging),
     * and XD when EFER.NXE = 0. */
    uint64_t rsvd = (PTE_XD - 1) & ~((1ull << CPU_MAXPHYADDR) - 1);
    if (!(c->efer & CPU_EFER_NXE))
        rsvd |= PTE_XD;
    uint64_t pdpte = c->pdpte[(va >> 30) & 3];
    if (!(pdpte & PTE_P))
        return WALK_NOT_PRESENT;
    uint64_t table = pdpte;
    for (unsigned level = 0; level < 2; level++) {
        uint64_t ea = (table & PTE_ADDR) + ((va >> (21 - 9 * level)) & 511) * 8;
        uint64_t e;
        if (!walk_read(c, ea, 8, peek, &e))
            return WALK_UNREADABLE;
        w->ent[w->n++] = ea;
        if (!(e & PTE_P))
            return WALK_NOT_PRESENT;
        bool big = level == 0 && (e & PTE_PS);
        if (e & (rsvd | (big ? 0x1FE000ull : 0)))
            return WALK_RSVD;
        w->rw = w->rw && (e & PTE_RW);
        w->us = w->us && (e & PTE_US);
        w->xd = w->xd || (e & PTE_XD);
        if (big || level == 1) {
            w->page_mask = big ? 0x1FFFFF : 0xFFF;
            w->leaf = e;
            w->base = e & PTE_ADDR & ~w->page_mask;
            return WALK_OK;
        }
        table = e;
    }
    return WALK_OK; /* not reached */
}

/* 32-bit paging (SDM 4.3): a 4-byte PDE from CR3[31:12] indexed by
 * va[31:22]; with CR4.PSE and PS = 1 it maps a 4-MByte page whose
 * physical-address bits 38:32 are PDE bits 19:13 (PSE-36 with M =
 * MAXPHYADDR = 39, Table 4-4; bits 21:20 reserved), else a 4-byte PTE
 * indexed by va[21:12]. No XD; no other reserved bits. */
static int walk_32bit(cpu_t *c, uint64_t va, bool peek, walk_path *w)
{
    w->esize = 4;
    uint64_t ea = (c->cr3 & 0xFFFFF000ull) + ((va >> 22) & 0x3FF) * 4;
    uint64_t e;
    if (!walk_read(c, ea, 4, peek, &e))
        return WALK_UNREADABLE;
    w->ent[w->n++] = ea;
    if (!(e & PTE_P))
        return WALK_NOT_PRESENT;
    w->rw = (e & PTE_RW) != 0;
    w->us = (e & PTE_US) != 0;
    if ((c->cr4 & CPU_CR4_PSE) && (e & PTE_PS)) {
        if (e & 0x300000ull)
            return WALK_RSVD;
        w->page_mask = 0x3FFFFF;
        w->leaf = e;
        w->base = (e & 0xFFC00000ull) | ((e & 0xFE000ull) << 19);
        return WALK_OK;
    }
    ea = (e & 0xFFFFF000ull) + ((va >> 12) & 0x3FF) * 4;
    if (!walk_read(c, ea, 4, peek, &e))
        return WALK_UNREADABLE;
    w->ent[w->n++] = ea;
    if (!(e & PTE_P))
        return WALK_NOT_PRESENT;
    w->rw = w->rw && (e & PTE_RW);
    w->us = w->us && (e & PTE_US);
    w->page_mask = 0xFFF;
    w->leaf = e;
    w->base = e & 0xFFFFF000ull;
    return WALK_OK;
}

/* The entries of va in the paging mode in effect (SDM 4.1.1 Table 4-1):
 * 4-level with EFER.LMA, else PAE with CR4.PAE, else 32-bit paging. */
static int walk_entries(cpu_t *c, uint64_t va, bool peek, walk_path *w)
{
    w->n = 0;
    w->esize = 8;
    w->rw = w->us = true;
    w->xd = false;
    if (likely(c->efer & CPU_EFER_LMA)) {
        uint64_t rsvd = PTE_RSVD_HIGH | ((c->efer & CPU_EFER_NXE) ? 0 : PTE_XD);
        return walk_4level(c, va, peek, rsvd, w);
    }
    if (c->cr4 & CPU_CR4_PAE)
        return walk_pae(c, va, peek, w);
    return walk_32bit(c, va, peek, w);
}

/*
 * The page walk with the access-rights checks of SDM 4.6 and the #PF error
 * code of SDM 4.7 (the I/D bit only with PAE or 4-level paging and
 * EFER.NXE = 1). Accessed and dirty flags are set only when the access
 * succeeds (SDM 4.8).
 */
static walk_result page_walk(cpu_t *c, uint64_t va, cpu_access acc, bool user)
{
    bool write = acc == CPU_ACC_WRITE, fetch = acc == CPU_ACC_FETCH;
    bool nx = (c->efer & CPU_EFER_NXE) && (c->cr4 & CPU_CR4_PAE);
    uint32_t err_base = (write ? CPU_PF_W : 0) | (user ? CPU_PF_U : 0) |
                        (fetch && nx ? CPU_PF_I : 0);
    walk_path w;
    int r = walk_entries(c, va, false, &w);
    if (r == WALK_NOT_PRESENT)
        page_fault(c, va, err_base);
    if (r == WALK_RSVD)
        page_fault(c, va, err_base | CPU_PF_P | CPU_PF_RSVD);

    /* Access rights (SDM 4.6): supervisor writes need RW when CR0.WP = 1;
     * user accesses need U/S everywhere and RW for writes; fetches need XD
     * clear when EFER.NXE = 1. */
    bool wp = (c->cr0 & CPU_CR0_WP) != 0;
    bool writable = user ? (w.rw && w.us) : (w.rw || !wp);
    bool xd = nx && w.xd;
    if ((user && !w.us) || (write && !writable) || (fetch && xd))
        page_fault(c, va, err_base | CPU_PF_P);

    for (unsigned l = 0; l + 1 < w.n; l++)
        walk_set_bits(c, w.ent[l], w.esize, PTE_A);
    walk_set_bits(c, w.ent[w.n - 1], w.esize, write ? (PTE_A | PTE_D) : PTE_A);

    walk_result res;
    res.pa = w.base | (va & w.page_mask);
    res.writable = writable;
    res.wp_granted = writable && !w.rw;
    res.user_ok = w.us;
    res.executable = !xd;
    res.dirty = write || (w.leaf & PTE_D);
    return res;
}

/* SDM 4.4.1: the PDPTEs of PAE paging, from the 32-byte-aligned table at
 * cr3[31:5]. False when a present one has a reserved bit set (bits 2:1,
 * 8:5, 63:MAXPHYADDR): the MOV that loads them is #GP(0). */
bool cpu_pdptes_read(cpu_t *c, uint64_t cr3, uint64_t out[4])
{
    const uint64_t rsvd = 0x1E6ull | ~((1ull << CPU_MAXPHYADDR) - 1);
    c->xlat_linear = 0; /* no linear address: a load by MOV CR / VM entry */
    for (unsigned k = 0; k < 4; k++) {
        uint64_t gpa = (cr3 & 0xFFFFFFE0ull) + k * 8u;
        out[k] = cpu_phys_load(c, to_host_phys(c, gpa, CPU_ACC_WALK), 8, CPU_ACC_WALK);
        if ((out[k] & PTE_P) && (out[k] & rsvd))
            return false;
    }
    return true;
}

bool cpu_load_pdptes(cpu_t *c)
{
    uint64_t p[4];
    if (!cpu_pdptes_read(c, c->cr3, p))
        return false;
    memcpy(c->pdpte, p, sizeof p);
    cpu_tlb_flush(c);
    return true;
}

/*
 * Translates va and refills its TLB entry. Only plain RAM pages get the
 * host pointer; trap pages and MMIO never do, and pages holding decoded code
 * get no fast write path (their writes must invalidate the code).
 */
uint64_t cpu_translate(cpu_t *c, uint64_t va, cpu_access acc)
{
    if (c->mode == CPU_MODE_LONG64 && !cpu_canonical(va))
        cpu_fault(c, CPU_EXC_GP, 0);
    walk_result w;
    c->xlat_va = va;
    c->xlat_linear = 1;
    if (c->cr0 & CPU_CR0_PG) {
        w = page_walk(c, va, acc, c->cpl == 3);
    } else {
        w.pa = va;
        w.writable = w.user_ok = w.executable = w.dirty = true;
        w.wp_granted = false;
    }
    /* The whole guest-physical address goes to the hook (an EPT violation
     * reports it); the mapping is per page. */
    uint64_t hpa_page = to_host_phys(c, w.pa, acc) & ~0xFFFull;
    uint64_t vpage = va & ~0xFFFull;
    cpu_tlb_entry *e = cpu_tlb_slot(c, va);
    e->tag_read = e->tag_write = e->tag_fetch = CPU_TLB_INVALID;
    e->paddr = hpa_page;
    if (page_is_ram(c, hpa_page)) {
        /* A watched page: reads and writes take the slow path (cpu_watch_set);
         * so do all data accesses while alignment checking is on (they are
         * checked there, cpu_ac_fault). */
        bool watched = (unlikely(c->phys->nwatch) && watched_page(c->phys, hpa_page)) ||
                       unlikely(cpu_ac_on(c));
        if (c->tlb_nused < CPU_TLB_TRACK)
            c->tlb_used[c->tlb_nused++] = (uint8_t)(e - c->tlb);
        else
            c->tlb_nused = CPU_TLB_TRACK + 1;
        e->host_adj = (uintptr_t)(c->phys->ram + hpa_page) - (uintptr_t)vpage;
        if (!watched)
            e->tag_read = vpage;
        if (w.writable && w.dirty && !watched && !c->phys->code_page[hpa_page >> CPU_PAGE_SHIFT]) {
            e->tag_write = vpage;
            c->tlb_wp_grants |= w.wp_granted;
        }
        if (w.executable)
            e->tag_fetch = vpage;
    }
    return hpa_page | (va & 0xFFF);
}

/* An implicit supervisor-mode access (SDM 4.6: descriptor tables, the IDT,
 * the TSS) at any CPL: walked without filling the TLB, whose entries hold
 * the current CPL's rights. */
uint64_t cpu_read_supervisor(cpu_t *c, uint64_t va, unsigned size)
{
    if (c->cpl != 3)
        return cpu_read(c, va, size);
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++) {
        uint64_t a = va + k;
        if (c->mode == CPU_MODE_LONG64 && !cpu_canonical(a))
            cpu_fault(c, CPU_EXC_GP, 0);
        uint64_t pa = a;
        c->xlat_va = a;
        c->xlat_linear = 1;
        if (c->cr0 & CPU_CR0_PG)
            pa = page_walk(c, a, CPU_ACC_READ, false).pa;
        v |= cpu_phys_load(c, to_host_phys(c, pa, CPU_ACC_READ), 1, CPU_ACC_READ) << (8 * k);
    }
    return v;
}

/* ---- slow paths ---------------------------------------------------------------- */

static uint64_t read_one_page(cpu_t *c, uint64_t va, unsigned size, cpu_access acc)
{
    uint64_t pa = cpu_translate(c, va, acc);
    return cpu_phys_load(c, pa, size, acc);
}

uint64_t cpu_read_slow(cpu_t *c, uint64_t va, unsigned size, cpu_access acc)
{
    if (unlikely(cpu_ac_on(c)) && (va & (size - 1)) && acc != CPU_ACC_FETCH)
        cpu_fault(c, CPU_EXC_AC, 0);
    if ((va & 0xFFF) + size <= 0x1000)
        return read_one_page(c, va, size, acc);
    /* Crossing a page: translate both before reading (both may fault). */
    unsigned first = 0x1000 - (unsigned)(va & 0xFFF);
    uint64_t pa0 = cpu_translate(c, va, acc);
    uint64_t pa1 = cpu_translate(c, va + first, acc);
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++) {
        uint64_t pa = k < first ? pa0 + k : pa1 + (k - first);
        v |= cpu_phys_load(c, pa, 1, acc) << (8 * k);
    }
    return v;
}

void cpu_write_slow(cpu_t *c, uint64_t va, unsigned size, uint64_t v)
{
    if (unlikely(cpu_ac_on(c)) && (va & (size - 1)))
        cpu_fault(c, CPU_EXC_AC, 0);
    if ((va & 0xFFF) + size <= 0x1000) {
        uint64_t pa = cpu_translate(c, va, CPU_ACC_WRITE);
        cpu_phys_store(c, pa, size, v);
        return;
    }
    unsigned first = 0x1000 - (unsigned)(va & 0xFFF);
    uint64_t pa0 = cpu_translate(c, va, CPU_ACC_WRITE);
    uint64_t pa1 = cpu_translate(c, va + first, CPU_ACC_WRITE);
    for (unsigned k = 0; k < size; k++) {
        uint64_t pa = k < first ? pa0 + k : pa1 + (k - first);
        cpu_phys_store(c, pa, 1, (v >> (8 * k)) & 0xFF);
    }
}

void cpu_probe_write(cpu_t *c, uint64_t va, unsigned size)
{
    cpu_tlb_entry *e = cpu_tlb_slot(c, va);
    if (e->tag_write == (va & ~0xFFFull) && (va & 0xFFF) <= 0x1000u - size)
        return;
    cpu_translate(c, va, CPU_ACC_WRITE);
    if ((va & 0xFFF) + size > 0x1000)
        cpu_translate(c, (va | 0xFFF) + 1, CPU_ACC_WRITE);
}

/* ---- TLB maintenance (SDM 4.10.4) ---------------------------------------------- */

/* Invalidates the entries of tlb[] that used[] tracks (nused of them),
 * or all of them when nused > CPU_TLB_TRACK (more, or unknown). */
static void tlb_clear_tracked(cpu_tlb_entry *tlb, const uint8_t *used, unsigned nused)
{
    if (nused <= CPU_TLB_TRACK) {
        for (unsigned k = 0; k < nused; k++) {
            cpu_tlb_entry *e = &tlb[used[k]];
            e->tag_read = e->tag_write = e->tag_fetch = CPU_TLB_INVALID;
        }
    } else {
        for (unsigned k = 0; k < CPU_TLB_ENTRIES; k++)
            tlb[k].tag_read = tlb[k].tag_write = tlb[k].tag_fetch = CPU_TLB_INVALID;
    }
}

/* Only entries cpu_translate filled can be valid: when it tracked them
 * all, those are cleared (a VM entry or exit, a MOV to CR3 after a few
 * pages were touched), else the whole TLB. */
void cpu_tlb_flush(cpu_t *c)
{
    tlb_clear_tracked(c->tlb, c->tlb_used, c->tlb_nused);
    c->tlb_nused = 0;
    c->tlb_wp_grants = false;
    c->tlb_alt.valid = false;
    cpu_epoch_invalidate(c);
}

/* SDM 4.10.2.2, 4.6: a TLB entry keeps the translation and the AND of the
 * R/W flags; whether a supervisor write is allowed is decided with the
 * current CR0.WP. Setting WP therefore invalidates nothing architectural,
 * but a fast write path filled while WP = 0 for a read-only page must go:
 * when there is one (tlb_wp_grants), all write tags go (cheaply), reads
 * and fetches stay. */
void cpu_tlb_wp_set(cpu_t *c)
{
    if (!c->tlb_wp_grants)
        return;
    c->tlb_wp_grants = false;
    if (c->tlb_nused <= CPU_TLB_TRACK) {
        for (unsigned k = 0; k < c->tlb_nused; k++)
            c->tlb[c->tlb_used[k]].tag_write = CPU_TLB_INVALID;
    } else {
        for (unsigned k = 0; k < CPU_TLB_ENTRIES; k++)
            c->tlb[k].tag_write = CPU_TLB_INVALID;
    }
}

/* Clears the kept-aside entries (they are valid only at its used[]). */
static void tlb_alt_clear(cpu_tlb_bank *b)
{
    tlb_clear_tracked(b->e, b->used, b->nused);
    b->nused = 0;
}

void cpu_tlb_switch(cpu_t *c, const cpu_tlb_key *key_out, const cpu_tlb_key *key_in)
{
    cpu_tlb_bank *b = &c->tlb_alt;
    if (c->tlb_nused > CPU_TLB_TRACK) {
        /* Not tracked: nothing can be kept aside cheaply. */
        tlb_alt_clear(b);
        cpu_tlb_flush(c);
        return;
    }
    bool reuse = b->valid && b->nused <= CPU_TLB_TRACK &&
                 memcmp(&b->key, key_in, sizeof(*key_in)) == 0;
    if (reuse) {
        /* Exchange the two sets: each slot either uses, once. */
        uint64_t seen[CPU_TLB_ENTRIES / 64] = {0};
        for (unsigned side = 0; side < 2; side++) {
            unsigned n = side ? b->nused : c->tlb_nused;
            const uint8_t *list = side ? b->used : c->tlb_used;
            for (unsigned k = 0; k < n; k++) {
                unsigned i = list[k];
                if (seen[i / 64] & (1ull << (i % 64)))
                    continue;
                seen[i / 64] |= 1ull << (i % 64);
                cpu_tlb_entry t = c->tlb[i];
                c->tlb[i] = b->e[i];
                b->e[i] = t;
            }
        }
        uint8_t used[CPU_TLB_TRACK];
        uint16_t n = b->nused;
        memcpy(used, b->used, n);
        memcpy(b->used, c->tlb_used, c->tlb_nused);
        b->nused = c->tlb_nused;
        memcpy(c->tlb_used, used, n);
        c->tlb_nused = n;
    } else {
        /* The current set moves aside, the TLB starts empty. */
        tlb_alt_clear(b);
        for (unsigned k = 0; k < c->tlb_nused; k++) {
            cpu_tlb_entry *e = &c->tlb[c->tlb_used[k]];
            b->e[c->tlb_used[k]] = *e;
            e->tag_read = e->tag_write = e->tag_fetch = CPU_TLB_INVALID;
        }
        memcpy(b->used, c->tlb_used, c->tlb_nused);
        b->nused = c->tlb_nused;
        c->tlb_nused = 0;
        /* The set kept aside before is gone: no epoch of it comes back. */
        cpu_epoch_invalidate(c);
    }
    b->key = *key_out;
    b->valid = true;
    c->tlb_wp_grants |= reuse; /* the set brought back may hold some */
    cpu_epoch_new(c); /* cached successor links assumed the other set */
}

cpu_epoch_mark cpu_epoch_mark_now(const cpu_t *c)
{
    cpu_epoch_mark m = {.epoch = c->epoch.cur, .cs_base = c->seg[CPU_CS].base,
                        .cs_limit = c->seg[CPU_CS].limit, .mode = c->mode};
    return m;
}

void cpu_epoch_resume(cpu_t *c, const cpu_epoch_mark *m)
{
    /* Every epoch at or above the floor was handed out after the last
     * event that ended all links; each CS or mode change hands out a new
     * one, so the links of m->epoch assumed m's CS and mode. */
    if (m->epoch < c->epoch.floor || m->mode != c->mode || m->cs_base != c->seg[CPU_CS].base ||
        m->cs_limit != c->seg[CPU_CS].limit)
        return;
    c->epoch.cur = m->epoch;
    c->tlb_epoch = (uint32_t)m->epoch;
}

cpu_tlb_key cpu_tlb_key_of(const cpu_t *c, uint64_t extra0, uint64_t extra1)
{
    const uint64_t cr0_bits = CPU_CR0_PG | CPU_CR0_WP | CPU_CR0_PE;
    const uint64_t efer_bits = CPU_EFER_NXE | CPU_EFER_LMA;
    /* CR0 bits 31, 16, 0; CPL in 3:2; EFER LMA/NXE (10, 11) in 13:12;
     * alignment checking (cpu_ac_on: no fast paths) in 1; CR4 (32 bits)
     * in 63:32. */
    cpu_tlb_key k = {{(c->cr0 & cr0_bits) | ((uint64_t)(c->cpl & 3) << 2) |
                          ((uint64_t)cpu_ac_on(c) << 1) |
                          ((c->efer & efer_bits) << 2) | ((c->cr4 & 0xFFFFFFFFull) << 32),
                      c->cr3, extra0, extra1}};
    return k;
}

void cpu_tlb_flush_page(cpu_t *c, uint64_t va)
{
    /* A 2 MiB or 1 GiB page backs many 4 KiB entries, so INVLPG of one
     * address flushes everything: a TLB may always cache less. */
    (void)va;
    cpu_tlb_flush(c);
}

void cpu_mark_code_page(cpu_t *c, uint64_t paddr)
{
    cpu_phys *p = c->phys;
    uint64_t page = paddr >> CPU_PAGE_SHIFT;
    if (page >= p->npages || p->code_page[page])
        return;
    p->code_page[page] = 1;
    /* Every CPU loses its fast write path to this page. */
    for (unsigned k = 0; k < p->ncpus; k++) {
        cpu_t *o = p->cpus[k];
        for (unsigned t = 0; t < CPU_TLB_ENTRIES; t++) {
            if (o->tlb[t].paddr == (page << CPU_PAGE_SHIFT))
                o->tlb[t].tag_write = CPU_TLB_INVALID;
            if (o->tlb_alt.e[t].paddr == (page << CPU_PAGE_SHIFT))
                o->tlb_alt.e[t].tag_write = CPU_TLB_INVALID;
        }
    }
}

void cpu_code_page_written(cpu_phys *p, uint64_t page)
{
    p->code_page[page] = 0;
    p->code_gen[page]++;
    /* Cached successor links skip the generation check: end them all. A
     * CPU in a run (the writer may be its own hook) stops its block after
     * the current instruction: the rest of it may be stale. */
    for (unsigned k = 0; k < p->ncpus; k++) {
        cpu_epoch_invalidate(p->cpus[k]);
        if (p->cpus[k]->in_run)
            p->cpus[k]->exit_block = 1;
    }
}

bool cpu_linear_to_phys(cpu_t *c, uint64_t va, uint64_t *pa)
{
    /* The same side-effect-free walk as cpu_peek_linear (SDM 4.5 4-level
     * paging): no A/D updates, no faults. */
    if (!(c->cr0 & CPU_CR0_PG)) {
        *pa = va;
        return true;
    }
    walk_path w;
    if (walk_entries(c, va, true, &w) != WALK_OK)
        return false;
    *pa = w.base | (va & w.page_mask);
    return true;
}

bool cpu_peek_linear(cpu_t *c, uint64_t va, void *buf, size_t len)
{
    /* A side-effect-free walk for debuggers: no A/D updates, no faults. */
    uint8_t *out = buf;
    for (size_t k = 0; k < len;) {
        uint64_t a = va + k, pa = a;
        if (c->cr0 & CPU_CR0_PG) {
            walk_path w;
            if (walk_entries(c, a, true, &w) != WALK_OK)
                return false;
            pa = w.base | (a & w.page_mask);
        }
        size_t chunk = 0x1000 - (a & 0xFFF);
        if (chunk > len - k)
            chunk = len - k;
        if (!cpu_phys_read(c->phys, pa, out + k, chunk))
            return false;
        k += chunk;
    }
    return true;
}
