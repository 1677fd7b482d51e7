# The UltraScale+ PCIe block that splitrx_top's PCIe ports assume (Vivado IP, PG213):
# Gen3 x8 at a 250 MHz user clock, 256-bit AXI streams, no straddling on RC, client tags (the
# core puts its own tag in every RQ descriptor: rtl/pcie_us_rq.sv), BAR0 with the registers,
# and MSI-X with the table and PBA in BAR0, written by the core as posted RQ writes.
# tools/constraints.py checks these settings against splitrx_top's parameters and the register
# map (make synth; tests/test_constraints.py). Run in a Vivado project for the target part:
#   vivado -mode batch -source synth/pcie_ip.tcl

create_ip -name pcie4_uscale_plus -vendor xilinx.com -library ip -module_name pcie4_uscale_plus_0

set_property -dict [list \
    CONFIG.PL_LINK_CAP_MAX_LINK_SPEED {8.0_GT/s} \
    CONFIG.PL_LINK_CAP_MAX_LINK_WIDTH {X8} \
    CONFIG.axisten_if_width {256_bit} \
    CONFIG.axisten_freq {250} \
    CONFIG.AXISTEN_IF_RC_STRADDLE {false} \
    CONFIG.axisten_if_enable_client_tag {true} \
    CONFIG.extended_tag_field {false} \
    CONFIG.PF0_CLASS_CODE {020000} \
    CONFIG.pf0_bar0_64bit {true} \
    CONFIG.pf0_bar0_prefetchable {false} \
    CONFIG.pf0_bar0_scale {Kilobytes} \
    CONFIG.pf0_bar0_size {64} \
    CONFIG.MSI_X_OPTIONS {MSI-X_External} \
    CONFIG.PF0_MSIX_CAP_TABLE_BIR {BAR_1:0} \
    CONFIG.PF0_MSIX_CAP_TABLE_OFFSET {00008000} \
    CONFIG.PF0_MSIX_CAP_TABLE_SIZE {00F} \
    CONFIG.PF0_MSIX_CAP_PBA_BIR {BAR_1:0} \
    CONFIG.PF0_MSIX_CAP_PBA_OFFSET {00009000} \
] [get_ips pcie4_uscale_plus_0]
