// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Clock crossing for the MAC frame stream: packs {tuser, tlast, tkeep, tdata} into one
// async_fifo word, so a frame's end-of-frame status crosses together with its last word.
//
// Resets as in async_fifo: both together at start-up, then either side alone. After the read
// side (m_rst) is reset alone, the rest of a frame it had begun to hand out is taken from the
// FIFO unseen, so the reset reader starts at a frame boundary: nothing merges. A frame cut by
// a write-side reset is the writer's to end (rx_frontend's frame_drop marks it).
module async_frame_fifo #(
    // Stream data width in bits (a multiple of 8; tkeep has one bit per byte).
    parameter int unsigned DATA_W        = 64,
    // Width of tuser in bits (the MAC's end-of-frame status, valid with tlast).
    parameter int unsigned USER_W        = 4,
    // log2 of the FIFO depth in words.
    parameter int unsigned DEPTH_LOG2    = 5,
    // Simulation only: random 2-or-3-cycle synchronizer delay (see sync_2ff).
    parameter bit          SIM_JITTER_EN = 1'b0
) (
    // ---- clocks and resets (each reset synchronous to its own clock, active high) ----
    input  logic                s_clk,   // MAC clock (156.25 MHz)
    input  logic                s_rst,
    input  logic                m_clk,   // PCIe user clock (250 MHz)
    input  logic                m_rst,

    // ---- frame stream in (s_clk) ----
    input  logic [DATA_W-1:0]   s_axis_tdata,
    input  logic [DATA_W/8-1:0] s_axis_tkeep,
    input  logic                s_axis_tlast,
    input  logic [USER_W-1:0]   s_axis_tuser,
    input  logic                s_axis_tvalid,
    output logic                s_axis_tready,

    // ---- write-side status (s_clk) ----
    output logic                s_full,
    output logic [DEPTH_LOG2:0] s_level,
    output logic                s_both_rst,  // start-up reset seen on the write side

    // ---- frame stream out (m_clk) ----
    output logic [DATA_W-1:0]   m_axis_tdata,
    output logic [DATA_W/8-1:0] m_axis_tkeep,
    output logic                m_axis_tlast,
    output logic [USER_W-1:0]   m_axis_tuser,
    output logic                m_axis_tvalid,
    input  logic                m_axis_tready,

    // ---- read-side status (m_clk) ----
    output logic                m_empty
);

    localparam int unsigned KEEP_W = DATA_W / 8;                  // tkeep bits
    localparam int unsigned WORD_W = USER_W + 1 + KEEP_W + DATA_W; // packed FIFO word

    if (DATA_W == 0 || DATA_W % 8 != 0 || USER_W == 0) begin : g_check
        $fatal(0, "async_frame_fifo: DATA_W must be a multiple of 8, USER_W >= 1 (instance %m)");
    end

    logic [WORD_W-1:0] s_word;
    logic [WORD_W-1:0] m_word;
    logic              f_valid, f_ready;  // the word FIFO's read side
    logic              m_both_rst;
    logic              skip_q;            // discarding the rest of a frame after a lone m_rst
    logic              edge_q;            // the last word out ended a frame
    logic              leave;             // a word leaves the FIFO (handed out or discarded)

    assign s_word = {s_axis_tuser, s_axis_tlast, s_axis_tkeep, s_axis_tdata};
    assign {m_axis_tuser, m_axis_tlast, m_axis_tkeep, m_axis_tdata} = m_word;

    async_fifo #(
        .DATA_W       (WORD_W),
        .DEPTH_LOG2   (DEPTH_LOG2),
        .SIM_JITTER_EN(SIM_JITTER_EN)
    ) u_fifo (
        .s_clk        (s_clk),
        .s_rst        (s_rst),
        .m_clk        (m_clk),
        .m_rst        (m_rst),
        .s_axis_tdata (s_word),
        .s_axis_tvalid(s_axis_tvalid),
        .s_axis_tready(s_axis_tready),
        .s_full       (s_full),
        .s_level      (s_level),
        .s_both_rst   (s_both_rst),
        .m_axis_tdata (m_word),
        .m_axis_tvalid(f_valid),
        .m_axis_tready(f_ready),
        .m_empty      (m_empty),
        .m_both_rst   (m_both_rst)
    );

    // ---------------------------------------------------------------- frame boundary (m_clk)
    assign m_axis_tvalid = f_valid && !skip_q && !m_rst;
    assign f_ready       = skip_q || (m_axis_tready && !m_rst);
    assign leave         = f_valid && f_ready;

    always_ff @(posedge m_clk) begin
        if (m_both_rst) begin
            skip_q <= 1'b0;
            edge_q <= 1'b1;
        end else begin
            if (leave) begin
                edge_q <= m_axis_tlast;
            end
            if (m_rst) begin
                skip_q <= leave ? !m_axis_tlast : !edge_q;  // mid-frame: finish it unseen
            end else if (leave && m_axis_tlast) begin
                skip_q <= 1'b0;
            end
        end
    end

endmodule

`resetall
