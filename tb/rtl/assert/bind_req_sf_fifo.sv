// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into every req_sf_fifo: its output stream and its fill level.
bind req_sf_fifo axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(USER_W)
) u_chk_m_axis (
    .clk, .rst, .valid(m_axis_tvalid), .ready(m_axis_tready), .data(m_axis_tdata),
    .keep(m_axis_tkeep), .last(m_axis_tlast), .user(m_axis_tuser)
);

bind req_sf_fifo fifo_checker #(.W(PTR_W + 1), .DEPTH(DEPTH)) u_chk_fifo (
    .clk, .rst, .level(wr_ptr_q - rd_ptr_q)
);

`resetall
