/* apicv-emu without the window: the command line lives in emu/emu_cli.c;
 * ui/ui_main.c is the same entry with the window's front end. */
#include "emu/emu.h"

int main(int argc, char **argv)
{
    return emu_main(argc, argv, NULL);
}
