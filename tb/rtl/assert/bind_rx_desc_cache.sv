// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into rx_desc_cache: its read requests, and one queue per error pulse.

bind rx_desc_cache axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(splitrx_pcie_pkg::REQ_HDR_W)
) u_chk_req (
    .clk, .rst, .valid(m_axis_req_tvalid), .ready(m_axis_req_tready), .data(m_axis_req_tdata),
    .keep(m_axis_req_tkeep), .last(m_axis_req_tlast), .user(m_axis_req_tuser)
);

// a completion is for one tag, so at most one queue's read fails per clock; timeouts are
// taken one tag per clock
bind rx_desc_cache onehot_checker #(.W(NQ)) u_chk_err_read (.clk, .rst, .bits(q_err_read));
bind rx_desc_cache onehot_checker #(.W(NQ)) u_chk_err_timeout (.clk, .rst, .bits(q_err_timeout));

`resetall
