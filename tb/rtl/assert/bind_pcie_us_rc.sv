// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into pcie_us_rc: the RC stream from the hard IP (its model) and the
// completion stream to the DMA.

bind pcie_us_rc axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(RC_USER_W)
) u_chk_rc (
    .clk, .rst, .valid(s_axis_rc_tvalid), .ready(s_axis_rc_tready), .data(s_axis_rc_tdata),
    .keep(s_axis_rc_tkeep), .last(s_axis_rc_tlast), .user(s_axis_rc_tuser)
);

bind pcie_us_rc axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(splitrx_pcie_pkg::CPL_HDR_W)
) u_chk_cpl (
    .clk, .rst, .valid(m_axis_cpl_tvalid), .ready(m_axis_cpl_tready), .data(m_axis_cpl_tdata),
    .keep(m_axis_cpl_tkeep), .last(m_axis_cpl_tlast), .user(m_axis_cpl_tuser)
);

`resetall
