// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Receive front end: 10G MAC on XGMII (156.25 MHz) and the clock crossing to the PCIe user
// clock (250 MHz). Frames leave on the user clock with their status in tuser on tlast.
//
// The MAC cannot be back-pressured. The packet FIFO behind this block takes a beat every
// user clock, so the crossing normally drains 250/156.25 times faster than the MAC fills it.
// When it cannot (a user clock slower than the wire needs, or the user side held in reset
// while the MAC receives), frame_drop drops whole frames in front of it and marks each with a
// terminator that the packet FIFO counts as cdc_drop. Either side may be reset alone while
// the other runs; frames resume whole on both sides (async_fifo, async_frame_fifo).
module rx_frontend #(
    // Largest frame accepted, FCS included (jumbo + two VLAN tags)
    parameter int MAX_FRAME_BYTES = 9026,
    // Simulation only: random extra synchronizer delay in the clock crossing
    parameter bit SIM_JITTER_EN = 1'b0
) (
    // XGMII receive (MAC clock)
    input  wire         mac_clk,
    input  wire         mac_rst,
    input  wire [63:0]  xgmii_rxd,
    input  wire [7:0]   xgmii_rxc,

    // Frames on the user clock; tuser on tlast: {drop reason, bad}
    input  wire         clk,
    input  wire         rst,
    output wire [63:0]  m_axis_tdata,
    output wire [7:0]   m_axis_tkeep,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready,
    output wire         m_axis_tlast,
    output wire [4:0]   m_axis_tuser
);

    // ---------------------------------------------------------------- MAC
    logic [63:0] mac_tdata;
    logic [7:0]  mac_tkeep;
    logic        mac_tvalid, mac_tlast;
    logic [4:0]  mac_tuser;

    mac_rx #(
        .MAX_FRAME_BYTES(MAX_FRAME_BYTES),
        .FCS_KEEP(1'b0)
    ) mac_rx_inst (
        .clk(mac_clk),
        .rst(mac_rst),
        .xgmii_rxd,
        .xgmii_rxc,
        .m_axis_tdata(mac_tdata),
        .m_axis_tkeep(mac_tkeep),
        .m_axis_tvalid(mac_tvalid),
        .m_axis_tlast(mac_tlast),
        .m_axis_tuser(mac_tuser)
    );

    // ---------------------------------------------------------------- whole-frame drop
    // A dropped frame's terminator: tuser = {reason cdc_drop, bad}.
    localparam logic [4:0] CDC_DROP_USER = {4'(splitrx_records_pkg::DROP_REASON_CDC_DROP), 1'b1};

    logic [63:0] cdc_tdata;
    logic [7:0]  cdc_tkeep;
    logic        cdc_tvalid, cdc_tlast;
    logic [4:0]  cdc_tuser;
    logic        cdc_tready, cdc_full, cdc_empty, cdc_init, cdc_dropping;
    logic [5:0]  cdc_level;

    frame_drop #(
        .DATA_W(64),
        .USER_W(5),
        .DROP_USER(CDC_DROP_USER)
    ) drop_inst (
        .clk(mac_clk),
        .rst(mac_rst),
        .init(cdc_init),
        .s_axis_tdata(mac_tdata),
        .s_axis_tkeep(mac_tkeep),
        .s_axis_tlast(mac_tlast),
        .s_axis_tuser(mac_tuser),
        .s_axis_tvalid(mac_tvalid),
        .m_axis_tdata(cdc_tdata),
        .m_axis_tkeep(cdc_tkeep),
        .m_axis_tlast(cdc_tlast),
        .m_axis_tuser(cdc_tuser),
        .m_axis_tvalid(cdc_tvalid),
        .m_axis_tready(cdc_tready),
        .dropping(cdc_dropping)
    );

    // ---------------------------------------------------------------- clock crossing

    async_frame_fifo #(
        .DATA_W(64),
        .USER_W(5),
        .DEPTH_LOG2(5),
        .SIM_JITTER_EN(SIM_JITTER_EN)
    ) cdc_inst (
        .s_clk(mac_clk),
        .s_rst(mac_rst),
        .m_clk(clk),
        .m_rst(rst),
        .s_axis_tdata(cdc_tdata),
        .s_axis_tkeep(cdc_tkeep),
        .s_axis_tlast(cdc_tlast),
        .s_axis_tuser(cdc_tuser),
        .s_axis_tvalid(cdc_tvalid),
        .s_axis_tready(cdc_tready),
        .s_full(cdc_full),
        .s_level(cdc_level),
        .s_both_rst(cdc_init),
        .m_axis_tdata,
        .m_axis_tkeep,
        .m_axis_tlast,
        .m_axis_tuser,
        .m_axis_tvalid,
        .m_axis_tready,
        .m_empty(cdc_empty)
    );

    logic unused;
    assign unused = ^{cdc_full, cdc_level, cdc_empty, cdc_dropping};

endmodule

`resetall
