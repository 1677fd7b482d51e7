// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test top for the receive front end: MAC -> clock crossing -> packet FIFO, with the FIFO's
// output always ready (the DMA side is not under test here) and shown on q_* for the tests
// that check frames byte for byte (tests/sim/frontend_cdc_tb.py).
module line_rate_top #(
    // Largest frame accepted, FCS included
    parameter int MAX_FRAME_BYTES = 9026,
    // Packet FIFO size in bytes
    parameter int RX_FIFO_BYTES = 32768
) (
    input  wire         mac_clk,
    input  wire         mac_rst,
    input  wire [63:0]  xgmii_rxd,
    input  wire [7:0]   xgmii_rxc,
    input  wire         clk,
    input  wire         rst,

    output wire [splitrx_records_pkg::DROP_REASON_COUNT*64-1:0] drop_count,
    output wire [63:0]  frames_in_good,
    output wire         frame_out,  // one pulse per frame leaving the FIFO
    output wire [63:0]  q_tdata,
    output wire [7:0]   q_tkeep,
    output wire         q_tvalid,
    output wire         q_tlast
);

    logic [63:0] rx_tdata;
    logic [7:0]  rx_tkeep;
    logic        rx_tvalid, rx_tready, rx_tlast;
    logic [4:0]  rx_tuser;
    logic [15:0] q_tuser;
    logic [$clog2(RX_FIFO_BYTES):0] level;

    rx_frontend #(
        .MAX_FRAME_BYTES(MAX_FRAME_BYTES)
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

    rx_fifo #(
        .DEPTH_BYTES(RX_FIFO_BYTES),
        .MAX_FRAME_BYTES(MAX_FRAME_BYTES)
    ) rx_fifo_inst (
        .clk, .rst,
        .s_axis_tdata(rx_tdata),
        .s_axis_tkeep(rx_tkeep),
        .s_axis_tvalid(rx_tvalid),
        .s_axis_tready(rx_tready),
        .s_axis_tlast(rx_tlast),
        .s_axis_tuser(rx_tuser),
        .m_axis_tdata(q_tdata),
        .m_axis_tkeep(q_tkeep),
        .m_axis_tvalid(q_tvalid),
        .m_axis_tready(1'b1),
        .m_axis_tlast(q_tlast),
        .m_axis_tuser(q_tuser),
        .drop_count,
        .frames_in_good,
        .level_bytes(level)
    );

    assign frame_out = q_tvalid && q_tlast;

    logic unused;
    assign unused = ^{q_tuser, level};

endmodule

`resetall
