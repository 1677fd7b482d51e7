// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test top with one of each assertion checker of tb/rtl/assert on its own, every input a port:
// tests/sim/assert_checkers_tb.py drives each with traces that break (and keep) its rules.
module assert_checkers_top (
    input  wire         clk,
    input  wire         rst,

    // axis_checker: 32 data bits, 4 keep bits (bytes), 4 user bits
    input  wire         ax_valid,
    input  wire         ax_ready,
    input  wire [31:0]  ax_data,
    input  wire [3:0]   ax_keep,
    input  wire         ax_last,
    input  wire [3:0]   ax_user,

    // req_checker and tag_checker: the request stream and the completions
    input  wire         rq_valid,
    input  wire         rq_ready,
    input  wire [7:0]   rq_keep,
    input  wire         rq_last,
    input  wire [splitrx_pcie_pkg::REQ_HDR_W-1:0] rq_user,
    input  wire [2:0]   rq_max_payload,
    input  wire [2:0]   rq_max_read_req,
    input  wire         cpl_valid,
    input  wire         cpl_ready,
    input  wire         cpl_last,
    input  wire [splitrx_pcie_pkg::CPL_HDR_W-1:0] cpl_user,

    // grant_checker
    input  wire         g_s0_valid,
    input  wire         g_s0_ready,
    input  wire         g_s0_last,
    input  wire         g_s1_valid,
    input  wire         g_s1_ready,
    input  wire         g_s1_last,
    input  wire         g_m_valid,
    input  wire         g_m_ready,
    input  wire         g_m_last,

    // fifo_checker: 16 entries, 5-bit level
    input  wire [4:0]   f_level,

    // onehot_checker: 4 bits, zero allowed
    input  wire [3:0]   oh_bits,

    // order_checker
    input  wire         o_data_valid,
    input  wire         o_data_ready,
    input  wire         o_data_last,
    input  wire         o_rec_valid,
    input  wire         o_rec_ready
);

    axis_checker #(.DATA_W(32), .KEEP_W(4), .USER_W(4)) u_axis (
        .clk, .rst, .valid(ax_valid), .ready(ax_ready), .data(ax_data), .keep(ax_keep),
        .last(ax_last), .user(ax_user)
    );

    req_checker #(.AXIS_W(256)) u_req (
        .clk, .rst, .valid(rq_valid), .ready(rq_ready), .keep(rq_keep), .last(rq_last),
        .user(rq_user), .max_payload(rq_max_payload), .max_read_req(rq_max_read_req)
    );

    tag_checker #(.AXIS_W(256)) u_tag (
        .clk, .rst, .req_valid(rq_valid), .req_ready(rq_ready), .req_last(rq_last),
        .req_user(rq_user), .cpl_valid, .cpl_ready, .cpl_last, .cpl_user
    );

    grant_checker u_grant (
        .clk, .rst, .s0_valid(g_s0_valid), .s0_ready(g_s0_ready), .s0_last(g_s0_last),
        .s1_valid(g_s1_valid), .s1_ready(g_s1_ready), .s1_last(g_s1_last),
        .m_valid(g_m_valid), .m_ready(g_m_ready), .m_last(g_m_last)
    );

    fifo_checker #(.W(5), .DEPTH(16)) u_fifo (.clk, .rst, .level(f_level));

    onehot_checker #(.W(4)) u_onehot (.clk, .rst, .bits(oh_bits));

    order_checker u_order (
        .clk, .rst, .data_valid(o_data_valid), .data_ready(o_data_ready),
        .data_last(o_data_last), .rec_valid(o_rec_valid), .rec_ready(o_rec_ready)
    );

endmodule

`resetall
