// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into rx_place: its data writes, completion records, RSS and steering
// requests (stream rules), and that a record is handed on only after its data.

bind rx_place axis_checker #(
    .DATA_W(AXIS_W), .KEEP_W(AXIS_W / 32), .USER_W(splitrx_pcie_pkg::REQ_HDR_W)
) u_chk_req (
    .clk, .rst, .valid(m_axis_req_tvalid), .ready(m_axis_req_tready), .data(m_axis_req_tdata),
    .keep(m_axis_req_tkeep), .last(m_axis_req_tlast), .user(m_axis_req_tuser)
);

bind rx_place axis_checker #(
    .DATA_W($bits(m_rec) + $clog2(NQ)), .KEEP_W(1), .USER_W(1)
) u_chk_rec (
    .clk, .rst, .valid(m_rec_valid), .ready(m_rec_ready), .data({m_rec_q, m_rec}),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

bind rx_place axis_checker #(
    .DATA_W(splitrx_meta_pkg::META_TUPLE_W), .KEEP_W(1), .USER_W(1)
) u_chk_rss_req (
    .clk, .rst, .valid(rss_req_valid), .ready(rss_req_ready), .data(rss_req_tuple),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

bind rx_place axis_checker #(
    .DATA_W(67), .KEEP_W(1), .USER_W(1)
) u_chk_steer_req (
    .clk, .rst, .valid(steer_req_valid), .ready(steer_req_ready), .data({steer_req_mac, steer_req_vlan_present, steer_req_vlan_id, steer_req_rss_queue}),
    .keep(1'b1), .last(1'b1), .user(1'b0)
);

bind rx_place order_checker u_chk_order (
    .clk, .rst,
    .data_valid(m_axis_req_tvalid), .data_ready(m_axis_req_tready), .data_last(m_axis_req_tlast),
    .rec_valid(m_rec_valid), .rec_ready(m_rec_ready)
);

`resetall
