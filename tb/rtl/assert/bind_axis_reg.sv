// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checker bound into every axis_reg: its output stream.

bind axis_reg axis_checker #(
    .DATA_W(DATA_W), .KEEP_W(1), .USER_W(1)
) u_chk_m (
    .clk, .rst, .valid(m_valid), .ready(m_ready), .data(m_data),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

`resetall
