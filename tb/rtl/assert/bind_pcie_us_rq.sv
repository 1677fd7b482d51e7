// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checker bound into pcie_us_rq: the RQ stream to the hard IP.

bind pcie_us_rq axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(RQ_USER_W)
) u_chk_rq (
    .clk, .rst, .valid(m_axis_rq_tvalid), .ready(m_axis_rq_tready), .data(m_axis_rq_tdata),
    .keep(m_axis_rq_tkeep), .last(m_axis_rq_tlast), .user(m_axis_rq_tuser)
);

`resetall
