// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into rx_fifo: its input (from the MAC side) and output streams, and its
// RAM and frame-length FIFO.

bind rx_fifo axis_checker #(
    .DATA_W(DATA_W), .KEEP_W(DATA_W / 8), .USER_W(5)
) u_chk_s_axis (
    .clk, .rst, .valid(s_axis_tvalid), .ready(s_axis_tready), .data(s_axis_tdata),
    .keep(s_axis_tkeep), .last(s_axis_tlast), .user(s_axis_tlast ? s_axis_tuser : 5'd0)
);

bind rx_fifo axis_checker #(
    .DATA_W(DATA_W), .KEEP_W(DATA_W / 8), .USER_W(16)
) u_chk_m_axis (
    .clk, .rst, .valid(m_axis_tvalid), .ready(m_axis_tready), .data(m_axis_tdata),
    .keep(m_axis_tkeep), .last(m_axis_tlast), .user(m_axis_tuser)
);

bind rx_fifo fifo_checker #(.W(PTR_W), .DEPTH(DEPTH_WORDS)) u_chk_ram (
    .clk, .rst, .level(wr_cur_q - rd_ptr_q)
);

bind rx_fifo fifo_checker #(.W(LF_PTR_W), .DEPTH(LEN_DEPTH_FRAMES)) u_chk_len_fifo (
    .clk, .rst, .level(lf_wr_q - lf_rd_q)
);

`resetall
