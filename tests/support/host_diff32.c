/*
 * host_diff32.c — the comparison step of the 32-bit differential tests
 * (see host_diff32.h).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/host_diff32.h"

bool host_diff32_host_init(host_code32 *hc, const char *test)
{
    char why[128];
    if (host_code32_init(hc, why, sizeof why))
        return true;
    fprintf(stderr, "%s: 32-bit host execution unavailable (%s): nothing compared\n", test, why);
    return false;
}

int host_diff32_interp_run(cpu_harness *h, const uint8_t *scratch0, const host_regs *r,
                           uint64_t rsp, uint64_t rip)
{
    cpu_t *c = &h->cpu;
    ck_assert(cpu_phys_write(&h->phys, HOST32_SCRATCH, scratch0, HOST32_SCRATCH_SIZE));
    for (unsigned k = 0; k < 8; k++)
        c->gpr[k] = (uint32_t)r->gpr[k];
    c->gpr[CPU_RSP] = rsp;
    cpu_set_rflags(c, (r->rflags & CPU_FL_ARITH) | 2);
    c->rip = rip;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 1000), CPU_STOP_HALT);
    return cpu_harness_vector(h);
}

void host_diff32_interp_regs(cpu_t *c, host_regs *r)
{
    for (unsigned k = 0; k < 8; k++)
        r->gpr[k] = (uint32_t)c->gpr[k];
    r->rflags = cpu_get_rflags(c);
}

uint32_t host_diff32_rnd(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 32);
}

void host_diff32_compare(const host_diff32 *d, const char *what, const uint8_t *code, size_t len,
                         const host_regs *in, uint64_t mask, bool memory)
{
    host_regs hr = *in, ir = *in;
    memcpy(host_code32_scratch(d->hc), d->scratch0, HOST32_SCRATCH_SIZE);
    ck_assert(host_code32_build(d->hc, code, len));
    int hsig = host_code32_run(d->hc, &hr);
    int ivec = d->interp(code, len, &ir);
    if (hsig || ivec) {
        /* Both must fault: SIGFPE is #DE. */
        ck_assert_msg(hsig == SIGFPE && ivec == CPU_EXC_DE, "%s: host signal %d, interpreter vector %d",
                      what, hsig, ivec);
        return;
    }
    for (unsigned k = 0; k < 8; k++) {
        if (k == CPU_RSP)
            continue;
        ck_assert_msg((uint32_t)hr.gpr[k] == (uint32_t)ir.gpr[k],
                      "%s: reg %u host %08x interpreter %08x (in eax=%08x ebx=%08x ecx=%08x fl=%03x)",
                      what, k, (uint32_t)hr.gpr[k], (uint32_t)ir.gpr[k], (uint32_t)in->gpr[0],
                      (uint32_t)in->gpr[3], (uint32_t)in->gpr[1], (unsigned)in->rflags);
    }
    ck_assert_msg((hr.rflags & mask) == (ir.rflags & mask),
                  "%s: flags host %03x interpreter %03x (mask %03x, in eax=%08x fl=%03x)", what,
                  (unsigned)(hr.rflags & mask), (unsigned)(ir.rflags & mask), (unsigned)mask,
                  (uint32_t)in->gpr[0], (unsigned)in->rflags);
    if (memory) {
        uint8_t mem[HOST32_SCRATCH_SIZE];
        ck_assert(cpu_phys_read(&d->h->phys, HOST32_SCRATCH, mem, sizeof mem));
        ck_assert_msg(memcmp(mem, host_code32_scratch(d->hc), sizeof mem) == 0,
                      "%s: scratch memory differs", what);
    }
}
