// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// splitrx top: 10G MAC on XGMII (156.25 MHz) -> clock crossing -> splitrx_core on the
// Xilinx UltraScale+ PCIe user interface (250 MHz).
//
// PCIe port names follow the hard IP with the core as the other end (m_axis_rq_*,
// s_axis_rc_*, s_axis_cq_*, m_axis_cc_*), so cocotbext AxiStreamBus.from_prefix finds them.
// The hard IP's s_axis_rq_tready and s_axis_cc_tready are 4 identical bits; this core takes
// one (bit 0 on a board). That is also what cocotbext-pcie needs under cocotb 2.x, whose
// RisingEdge refuses multi-bit signals (docs/architecture.md, "tready width").
module splitrx_top #(
    // PCIe user interface width in bits
    parameter int AXIS_PCIE_W = 256,
    // RQ / RC / CQ / CC tuser widths for UltraScale+ at 256 bits
    parameter int RQ_USER_W = 62,
    parameter int RC_USER_W = 75,
    parameter int CQ_USER_W = 88,
    parameter int CC_USER_W = 33,
    // Largest frame accepted, FCS included (jumbo + two VLAN tags)
    parameter int MAX_FRAME_BYTES = 9026,
    // Packet FIFO size in bytes
    parameter int RX_FIFO_BYTES = 32768,
    // Simulation only: random extra synchronizer delay in the clock crossing
    parameter bit SIM_JITTER_EN = 1'b0
) (
    // PCIe user clock and reset (from the hard IP)
    input  wire                      clk,
    input  wire                      rst,

    // XGMII receive (MAC clock)
    input  wire                      mac_clk,
    input  wire                      mac_rst,
    input  wire [63:0]               xgmii_rxd,
    input  wire [7:0]                xgmii_rxc,

    // Requester request
    output wire [AXIS_PCIE_W-1:0]    m_axis_rq_tdata,
    output wire [AXIS_PCIE_W/32-1:0] m_axis_rq_tkeep,
    output wire                      m_axis_rq_tvalid,
    input  wire                      m_axis_rq_tready,
    output wire                      m_axis_rq_tlast,
    output wire [RQ_USER_W-1:0]      m_axis_rq_tuser,

    // Requester completion
    input  wire [AXIS_PCIE_W-1:0]    s_axis_rc_tdata,
    input  wire [AXIS_PCIE_W/32-1:0] s_axis_rc_tkeep,
    input  wire                      s_axis_rc_tvalid,
    output wire                      s_axis_rc_tready,
    input  wire                      s_axis_rc_tlast,
    input  wire [RC_USER_W-1:0]      s_axis_rc_tuser,

    // Completer request
    input  wire [AXIS_PCIE_W-1:0]    s_axis_cq_tdata,
    input  wire [AXIS_PCIE_W/32-1:0] s_axis_cq_tkeep,
    input  wire                      s_axis_cq_tvalid,
    output wire                      s_axis_cq_tready,
    input  wire                      s_axis_cq_tlast,
    input  wire [CQ_USER_W-1:0]      s_axis_cq_tuser,

    // Completer completion
    output wire [AXIS_PCIE_W-1:0]    m_axis_cc_tdata,
    output wire [AXIS_PCIE_W/32-1:0] m_axis_cc_tkeep,
    output wire                      m_axis_cc_tvalid,
    input  wire                      m_axis_cc_tready,
    output wire                      m_axis_cc_tlast,
    output wire [CC_USER_W-1:0]      m_axis_cc_tuser,

    // Configuration status
    input  wire [2:0]                cfg_max_payload,
    input  wire [2:0]                cfg_max_read_req,
    // MSI-X capability state per physical function (bit 0: PF0)
    input  wire [3:0]                cfg_interrupt_msix_enable,
    input  wire [3:0]                cfg_interrupt_msix_mask
);

    // ---------------------------------------------------------------- front end
    logic [63:0] rx_tdata;
    logic [7:0]  rx_tkeep;
    logic        rx_tvalid, rx_tready, rx_tlast;
    logic [4:0]  rx_tuser;

    rx_frontend #(
        .MAX_FRAME_BYTES(MAX_FRAME_BYTES),
        .SIM_JITTER_EN(SIM_JITTER_EN)
    ) frontend_inst (
        .mac_clk, .mac_rst, .xgmii_rxd, .xgmii_rxc,
        .clk, .rst,
        .m_axis_tdata(rx_tdata),
        .m_axis_tkeep(rx_tkeep),
        .m_axis_tvalid(rx_tvalid),
        .m_axis_tready(rx_tready),
        .m_axis_tlast(rx_tlast),
        .m_axis_tuser(rx_tuser)
    );

    // ---------------------------------------------------------------- core
    splitrx_core #(
        .AXIS_PCIE_W(AXIS_PCIE_W),
        .RQ_USER_W(RQ_USER_W),
        .RC_USER_W(RC_USER_W),
        .CQ_USER_W(CQ_USER_W),
        .CC_USER_W(CC_USER_W),
        .RX_FIFO_BYTES(RX_FIFO_BYTES),
        .MAX_FRAME_BYTES(MAX_FRAME_BYTES)
    ) core_inst (
        .clk, .rst,
        .s_axis_rx_tdata(rx_tdata),
        .s_axis_rx_tkeep(rx_tkeep),
        .s_axis_rx_tvalid(rx_tvalid),
        .s_axis_rx_tready(rx_tready),
        .s_axis_rx_tlast(rx_tlast),
        .s_axis_rx_tuser(rx_tuser),
        .m_axis_rq_tdata, .m_axis_rq_tkeep, .m_axis_rq_tvalid, .m_axis_rq_tready,
        .m_axis_rq_tlast, .m_axis_rq_tuser,
        .s_axis_rc_tdata, .s_axis_rc_tkeep, .s_axis_rc_tvalid, .s_axis_rc_tready,
        .s_axis_rc_tlast, .s_axis_rc_tuser,
        .s_axis_cq_tdata, .s_axis_cq_tkeep, .s_axis_cq_tvalid, .s_axis_cq_tready,
        .s_axis_cq_tlast, .s_axis_cq_tuser,
        .m_axis_cc_tdata, .m_axis_cc_tkeep, .m_axis_cc_tvalid, .m_axis_cc_tready,
        .m_axis_cc_tlast, .m_axis_cc_tuser,
        .cfg_max_payload, .cfg_max_read_req,
        .cfg_interrupt_msix_enable, .cfg_interrupt_msix_mask
    );

endmodule

`resetall
