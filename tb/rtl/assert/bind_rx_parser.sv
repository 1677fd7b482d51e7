// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into rx_parser: its output stream with the records that travel with it
// (header record and tuple on every beat, checksum record on the last), and its two FIFOs.

bind rx_parser axis_checker #(
    .DATA_W(64), .KEEP_W(8), .USER_W(16 + HDR_W + TUPLE_W + CSUM_W)
) u_chk_m_axis (
    .clk, .rst, .valid(m_axis_tvalid), .ready(m_axis_tready), .data(m_axis_tdata),
    .keep(m_axis_tkeep), .last(m_axis_tlast), .user({m_axis_tuser, m_meta_hdr, m_meta_tuple, m_axis_tlast ? m_meta_csum : CSUM_W'(0)})
);

bind rx_parser fifo_checker #(.W(PTR_W), .DEPTH(DEPTH_BEATS)) u_chk_frame_fifo (
    .clk, .rst, .level(wr_ptr_q - rd_ptr_q)
);

bind rx_parser fifo_checker #(.W(MF_PTR_W), .DEPTH(META_DEPTH_FRAMES)) u_chk_record_fifo (
    .clk, .rst, .level(mf_wr_q - mf_rd_q)
);

`resetall
