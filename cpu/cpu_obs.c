/* cpu_obs.c — the observer bus (see cpu_obs.h). */
#include "cpu/cpu_obs.h"

bool cpu_obs_subscribe(cpu_obs_bus *bus, cpu_obs_fn fn, void *ctx)
{
    for (unsigned i = 0; i < bus->count; i++)
        if (bus->sub[i].fn == fn && bus->sub[i].ctx == ctx)
            return true; /* already there: one event, one call */
    if (bus->count >= CPU_OBS_MAX)
        return false;
    bus->sub[bus->count].fn = fn;
    bus->sub[bus->count].ctx = ctx;
    bus->count++;
    return true;
}

bool cpu_obs_subscribe_all(cpu_obs_bus *bus, const cpu_obs_bus *from)
{
    bool ok = true;
    for (unsigned i = 0; i < from->count; i++)
        ok &= cpu_obs_subscribe(bus, from->sub[i].fn, from->sub[i].ctx);
    return ok;
}

void cpu_obs_unsubscribe(cpu_obs_bus *bus, cpu_obs_fn fn, void *ctx)
{
    for (unsigned i = 0; i < bus->count; i++) {
        if (bus->sub[i].fn == fn && bus->sub[i].ctx == ctx) {
            for (unsigned j = i + 1; j < bus->count; j++)
                bus->sub[j - 1] = bus->sub[j];
            bus->count--;
            return;
        }
    }
}

void cpu_obs_dispatch(const cpu_obs_bus *bus, const cpu_obs_event *ev)
{
    for (unsigned i = 0; i < bus->count; i++)
        bus->sub[i].fn(bus->sub[i].ctx, ev);
}
