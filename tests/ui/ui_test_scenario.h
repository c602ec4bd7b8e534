/*
 * ui_test_scenario.h — shared set-up for the ui tests that open a scenario
 * in a window target: load scenarios/NAME, build the machine from the
 * scenario's configuration (optionally in another mode), apply the
 * scenario and attach a machine target that knows the scenario.
 * Header-only (static functions) so each test executable stays one file.
 */
#ifndef APICV_TESTS_UI_TEST_SCENARIO_H
#define APICV_TESTS_UI_TEST_SCENARIO_H

#include <check.h>
#include <stdio.h>

#include "emu/emu_scenario.h"
#include "ui/ui.h"

/* Opens scenarios/name into scn, m, mt and t. mode NULL runs the scenario
 * in its own mode; declared_mode (may be NULL) receives the mode the
 * scenario's configuration asks for, before any override. */
static inline void ui_test_scenario_open(const char *name, const emu_mode *mode,
                                         emu_mode *declared_mode, emu_scenario *scn,
                                         emu_machine *m, ui_machine_target *mt, ui_target *t)
{
    char path[1024], guest[4096], err[1024];
    snprintf(path, sizeof(path), "%s/scenarios/%s", APICV_SOURCE_DIR, name);
    ck_assert_msg(emu_scenario_load(path, scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_guest_path(scn, APICV_GUEST_DIR, guest, sizeof(guest), err,
                                          sizeof(err)),
                  "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(scn, &cfg);
    if (declared_mode)
        *declared_mode = cfg.mode;
    if (mode)
        cfg.mode = *mode;
    ck_assert_msg(emu_machine_init(m, &cfg, guest, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_apply(scn, m, err, sizeof(err)), "%s", err);
    ui_machine_target_init(mt, m, guest, NULL, t);
    mt->scenario = scn;
}

/* Undoes ui_test_scenario_open. */
static inline void ui_test_scenario_close(emu_scenario *scn, emu_machine *m,
                                          ui_machine_target *mt)
{
    ui_machine_target_detach(mt);
    emu_machine_free(m);
    emu_scenario_free(scn);
}

#endif
