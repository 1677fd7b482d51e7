# splitrx_top: clocks and the MAC -> PCIe user clock crossing (Vivado XDC).
#
# Out of context, as make synth builds it: on a board the PCIe hard IP's XDC creates the user
# clock (250 MHz) and the 10G PHY's the MAC clock (156.25 MHz); keep only the crossing part.
# The synchronizer flops carry ASYNC_REG in the RTL (rtl/sync_2ff.sv). make synth fails if
# any cell, pin or port pattern here matches nothing in its netlist (tools/constraints.py).

create_clock -period 4.000 -name user_clk [get_ports clk]
create_clock -period 6.400 -name mac_clk [get_ports mac_clk]

# Gray-coded pointers: one bit changes per step, so the only limits are the delay (below one
# period of the faster clock, 4 ns) and the skew between the bits of one pointer.
set_max_delay -datapath_only 4.000 \
    -from [get_cells {frontend_inst/cdc_inst/u_fifo/wr_gray_q_reg[*]}] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/u_sync_wr_ptr/meta_q_reg[*]}]
set_bus_skew 4.000 \
    -from [get_cells {frontend_inst/cdc_inst/u_fifo/wr_gray_q_reg[*]}] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/u_sync_wr_ptr/meta_q_reg[*]}]
set_max_delay -datapath_only 4.000 \
    -from [get_cells {frontend_inst/cdc_inst/u_fifo/rd_gray_q_reg[*]}] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/u_sync_rd_ptr/meta_q_reg[*]}]
set_bus_skew 4.000 \
    -from [get_cells {frontend_inst/cdc_inst/u_fifo/rd_gray_q_reg[*]}] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/u_sync_rd_ptr/meta_q_reg[*]}]

# The FIFO memory (LUTRAM) is written on mac_clk and read on user_clk. A word is read only
# after its write pointer has crossed (two user clocks at least), so its data path needs only
# a bound, not a relation between the clocks.
set_max_delay -datapath_only 4.000 \
    -from [get_cells frontend_inst/cdc_inst/u_fifo/mem_reg*] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/out_data_q_reg[*]}]

# Each side's reset level crosses to the other side through a synchronizer of its own.
set_max_delay -datapath_only 4.000 -from [get_ports rst] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/u_sync_m_rst/meta_q_reg*}]
set_max_delay -datapath_only 4.000 -from [get_ports mac_rst] \
    -to [get_cells {frontend_inst/cdc_inst/u_fifo/u_sync_s_rst/meta_q_reg*}]
