/* apicv-emu command line: placeholder until emu/cli.c lands. */
#include <stdio.h>
int main(void)
{
    puts("apicv-emu: not built yet");
    return 2;
}
