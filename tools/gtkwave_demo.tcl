# GTKWave script for the picture in docs/export.md (docs/images/export_gtkwave.png):
#   build/apicv-emu run --headless --quiet --vcd demo.vcd scenarios/posted_demo.scn
#   xvfb-run -s "-screen 0 1400x640x24" gtkwave -S tools/gtkwave_demo.tcl demo.vcd
# vCPU 1 (the MSI 41h and the IPI 42h, posted) above, vCPU 0 (its APIC-write exit) below.
set sigs [list apicv.cpu1.nonroot apicv.cpu1.exit apicv.cpu1.exit_reason\[15:0\] apicv.cpu1.pir\[255:0\] apicv.cpu1.on apicv.cpu1.rvi\[7:0\] apicv.cpu1.svi\[7:0\] apicv.cpu1.vppr\[7:0\] apicv.cpu1.virr\[255:0\] apicv.cpu1.visr\[255:0\] apicv.cpu1.isr\[255:0\] apicv.cpu1.ppr\[7:0\] apicv.cpu1.intr apicv.cpu1.intr_vector\[7:0\] apicv.cpu0.nonroot apicv.cpu0.exit apicv.cpu0.exit_reason\[15:0\]]
gtkwave::addSignalsFromList $sigs
gtkwave::/Edit/Highlight_All
gtkwave::/Edit/Data_Format/Hex
gtkwave::/Edit/UnHighlight_All
gtkwave::setZoomRangeTimes 19800 24000
