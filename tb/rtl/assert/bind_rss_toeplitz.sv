// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checker bound into rss_toeplitz: its result stream.

bind rss_toeplitz axis_checker #(
    .DATA_W(32 + $bits(m_res_rss_type) + Q_W), .KEEP_W(1), .USER_W(1)
) u_chk_res (
    .clk, .rst, .valid(m_res_valid), .ready(m_res_ready), .data({m_res_hash, m_res_rss_type, m_res_queue}),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

`resetall
