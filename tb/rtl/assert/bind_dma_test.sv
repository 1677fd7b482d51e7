// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checker bound into dma_test: its request stream.

bind dma_test axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(splitrx_pcie_pkg::REQ_HDR_W)
) u_chk_req (
    .clk, .rst, .valid(m_axis_req_tvalid), .ready(m_axis_req_tready), .data(m_axis_req_tdata),
    .keep(m_axis_req_tkeep), .last(m_axis_req_tlast), .user(m_axis_req_tuser)
);

`resetall
