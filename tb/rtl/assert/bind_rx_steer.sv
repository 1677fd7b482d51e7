// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checker bound into rx_steer: its result stream.

bind rx_steer axis_checker #(
    .DATA_W(Q_W + 1 + 4 + 3 + $clog2(ENTRIES)), .KEEP_W(1), .USER_W(1)
) u_chk_res (
    .clk, .rst, .valid(m_res_valid), .ready(m_res_ready), .data({m_res_queue, m_res_drop, m_res_drop_reason, m_res_rule, m_res_entry}),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

`resetall
