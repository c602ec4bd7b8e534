/*
 * cpu_init.c — creating CPUs and guest physical memory.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/cpu_internal.h"

bool cpu_dcache_alloc(cpu_t *c);
void cpu_dcache_release(cpu_t *c);

bool cpu_phys_init(cpu_phys *p, uint64_t ram_size, uint64_t host_size)
{
    memset(p, 0, sizeof(*p));
    ram_size = (ram_size + CPU_PAGE_SIZE - 1) & ~(uint64_t)(CPU_PAGE_SIZE - 1);
    host_size = (host_size + CPU_PAGE_SIZE - 1) & ~(uint64_t)(CPU_PAGE_SIZE - 1);
    p->npages = ram_size >> CPU_PAGE_SHIFT;
    /* Anonymous memory: the host backs a page only when it is first
     * touched, so a 4 GiB machine whose guest uses a few pages costs a few
     * pages (cpu_phys_backed_pages finds them). */
    p->ram_size = ram_size ? ram_size : CPU_PAGE_SIZE;
    p->ram = mmap(NULL, p->ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->ram == MAP_FAILED)
        p->ram = NULL;
    p->ram_size = ram_size;
    p->code_page = calloc(p->npages ? p->npages : 1, 1);
    p->code_gen = calloc(p->npages ? p->npages : 1, sizeof(uint32_t));
    p->host_base = CPU_HOST_BASE;
    p->host_size = host_size;
    p->host = host_size ? calloc(1, host_size) : NULL;
    if (!p->ram || !p->code_page || !p->code_gen || (host_size && !p->host)) {
        cpu_phys_free(p);
        return false;
    }
    return true;
}

void cpu_phys_free(cpu_phys *p)
{
    if (p->ram)
        munmap(p->ram, p->ram_size ? p->ram_size : CPU_PAGE_SIZE);
    free(p->code_page);
    free(p->code_gen);
    free(p->host);
    memset(p, 0, sizeof(*p));
}

bool cpu_phys_backed_pages(const cpu_phys *p, uint64_t first, uint64_t n, uint8_t *out)
{
    if (first > p->npages || n > p->npages - first)
        return false;
    memset(out, 1, n);
    /* Linux: /proc/self/pagemap has one 64-bit entry per host page; bit 63
     * = present, bit 62 = swapped. A page with neither was never touched
     * and reads as zeros. Anywhere else every page counts as backed. */
    long host_page = sysconf(_SC_PAGESIZE);
    if (host_page != CPU_PAGE_SIZE || ((uintptr_t)p->ram & (CPU_PAGE_SIZE - 1)))
        return true;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    uint64_t buf[512];
    uint64_t base = (uintptr_t)p->ram / CPU_PAGE_SIZE + first;
    for (uint64_t done = 0; done < n;) {
        uint64_t chunk = n - done < 512 ? n - done : 512;
        ssize_t got = pread(fd, buf, chunk * 8, (off_t)((base + done) * 8));
        if (got != (ssize_t)(chunk * 8)) {
            memset(out + done, 1, n - done);
            break;
        }
        for (uint64_t k = 0; k < chunk; k++)
            out[done + k] = (buf[k] >> 62) != 0;
        done += chunk;
    }
    close(fd);
    return true;
}

uint64_t cpu_phys_host_alloc(cpu_phys *p, uint64_t size)
{
    size = (size + CPU_PAGE_SIZE - 1) & ~(uint64_t)(CPU_PAGE_SIZE - 1);
    if (size == 0 || p->host_used + size > p->host_size)
        return 0;
    uint64_t pa = p->host_base + p->host_used;
    memset(p->host + p->host_used, 0, size);
    p->host_used += size;
    return pa;
}

static void *phys_ptr(cpu_phys *p, uint64_t pa, uint64_t len)
{
    if (pa < p->ram_size && len <= p->ram_size - pa)
        return p->ram + pa;
    if (pa >= p->host_base && pa - p->host_base < p->host_size &&
        len <= p->host_size - (pa - p->host_base))
        return p->host + (pa - p->host_base);
    return NULL;
}

const void *cpu_phys_ptr(cpu_phys *p, uint64_t pa, uint64_t len)
{
    return phys_ptr(p, pa, len);
}

void cpu_phys_written(cpu_phys *p, uint64_t pa, uint64_t len)
{
    if (len == 0 || pa >= p->ram_size)
        return;
    uint64_t last = len > p->ram_size - pa ? p->ram_size - 1 : pa + len - 1;
    for (uint64_t pg = pa >> CPU_PAGE_SHIFT; pg <= last >> CPU_PAGE_SHIFT; pg++)
        if (p->code_page[pg])
            cpu_code_page_written(p, pg);
}

void *cpu_phys_ptr_write(cpu_phys *p, uint64_t pa, uint64_t len)
{
    void *dst = phys_ptr(p, pa, len);
    if (dst)
        cpu_phys_written(p, pa, len);
    return dst;
}

bool cpu_phys_read(cpu_phys *p, uint64_t pa, void *buf, size_t len)
{
    const void *src = cpu_phys_ptr(p, pa, len);
    if (!src)
        return false;
    memcpy(buf, src, len);
    return true;
}

bool cpu_phys_write(cpu_phys *p, uint64_t pa, const void *buf, size_t len)
{
    /* Code written behind the CPUs' backs must not stay decoded. */
    void *dst = cpu_phys_ptr_write(p, pa, len);
    if (!dst)
        return false;
    memcpy(dst, buf, len);
    return true;
}

bool cpu_init(cpu_t *c, unsigned index, cpu_phys *phys, const cpu_cost_model *costs,
              cpu_obs_bus *obs)
{
    memset(c, 0, sizeof(*c));
    if (phys->ncpus >= CPU_MAX_CPUS || !cpu_dcache_alloc(c))
        return false;
    cpu_opmap_get();
    c->index = index;
    c->phys = phys;
    c->costs = costs;
    c->obs = obs;
    c->mode = CPU_MODE_LONG64;
    c->rflags = CPU_FL_FIXED1;
    c->dr[6] = CPU_DR6_FIXED1; /* SDM 17.2.3, 17.2.4: the values after reset */
    c->dr[7] = CPU_DR7_FIXED1;
    c->pending_vector = -1;
    c->first_fault = -1;
    c->delivery_old_cpl = -1;
    c->pat = 0x0007040600070406ull; /* the power-up PAT (SDM Vol. 3A 11.12.4) */
    /* IA32_FEATURE_CONTROL as firmware leaves it on a VMX-capable server:
     * locked (bit 0), VMXON allowed outside SMX (bit 2), not inside SMX
     * (SDM 23.7). No CR bits are fixed outside VMX operation. */
    c->feature_control = 0x5;
    c->vmx_cr0_fixed1 = c->vmx_cr4_fixed1 = ~0ull;
    c->tlb_nused = CPU_TLB_TRACK + 1; /* zeroed entries: clear them all */
    c->tlb_alt.nused = CPU_TLB_TRACK + 1;
    cpu_tlb_flush(c);
    cpu_tlb_key none = {{0}};
    cpu_tlb_switch(c, &none, &none); /* clears the kept-aside set too */
    c->pause_yield_at = UINT64_MAX; /* a machine with other CPUs turns it on */
    cpu_tlb_flush(c);
    phys->cpus[phys->ncpus++] = c;
    return true;
}

void cpu_free(cpu_t *c)
{
    cpu_phys *p = c->phys;
    if (p) {
        for (unsigned k = 0; k < p->ncpus; k++) {
            if (p->cpus[k] == c) {
                for (unsigned j = k + 1; j < p->ncpus; j++)
                    p->cpus[j - 1] = p->cpus[j];
                p->ncpus--;
                break;
            }
        }
    }
    cpu_dcache_release(c);
    c->phys = NULL;
}

void cpu_set_hooks(cpu_t *c, const cpu_hooks *h)
{
    c->hooks = *h;
    /* Page classification may have changed: cached translations go. */
    cpu_tlb_flush(c);
}

void cpu_swap_hooks(cpu_t *c, const cpu_hooks *h)
{
    c->hooks = *h;
}

const char *cpu_stop_name(cpu_stop s)
{
    switch (s) {
    case CPU_STOP_NONE: return "none";
    case CPU_STOP_CYCLES: return "cycle limit";
    case CPU_STOP_INSNS: return "instruction limit";
    case CPU_STOP_HALT: return "halted";
    case CPU_STOP_HOOK: return "stopped by the machine";
    case CPU_STOP_TRIPLE_FAULT: return "triple fault";
    case CPU_STOP_UNIMPLEMENTED: return "unimplemented instruction";
    case CPU_STOP_YIELD: return "yielded at a PAUSE";
    }
    return "?";
}
