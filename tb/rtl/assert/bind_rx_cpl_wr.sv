// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into rx_cpl_wr: its record writes and interrupt requests, and one buffer.

bind rx_cpl_wr axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(splitrx_pcie_pkg::REQ_HDR_W)
) u_chk_req (
    .clk, .rst, .valid(m_axis_req_tvalid), .ready(m_axis_req_tready), .data(m_axis_req_tdata),
    .keep(m_axis_req_tkeep), .last(m_axis_req_tlast), .user(m_axis_req_tuser)
);

bind rx_cpl_wr axis_checker #(
    .DATA_W(6), .KEEP_W(1), .USER_W(1)
) u_chk_irq (
    .clk, .rst, .valid(irq_valid), .ready(irq_ready), .data(irq_vector),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

// one coalescing buffer: records of one queue at a time
bind rx_cpl_wr onehot_checker #(.W(NQ)) u_chk_busy (.clk, .rst, .bits(q_busy));

`resetall
