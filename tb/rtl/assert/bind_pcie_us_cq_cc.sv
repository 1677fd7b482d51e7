// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into pcie_us_cq_cc: the CQ stream from the hard IP (its model) and the CC
// stream to it.

bind pcie_us_cq_cc axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(CQ_USER_W)
) u_chk_cq (
    .clk, .rst, .valid(s_axis_cq_tvalid), .ready(s_axis_cq_tready), .data(s_axis_cq_tdata),
    .keep(s_axis_cq_tkeep), .last(s_axis_cq_tlast), .user(s_axis_cq_tuser)
);

bind pcie_us_cq_cc axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(CC_USER_W)
) u_chk_cc (
    .clk, .rst, .valid(m_axis_cc_tvalid), .ready(m_axis_cc_tready), .data(m_axis_cc_tdata),
    .keep(m_axis_cc_tkeep), .last(m_axis_cc_tlast), .user(m_axis_cc_tuser)
);

`resetall
