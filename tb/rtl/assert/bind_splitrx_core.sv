// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Checkers bound into splitrx_core on the merged request stream, before the PCIe adapter:
// request rules against the core's registered MPS and MRRS, and read tags against the
// completions.

bind splitrx_core req_checker #(.AXIS_W(AXIS_PCIE_W)) u_chk_requests (
    .clk, .rst, .valid(req_tvalid), .ready(req_tready), .keep(req_tkeep), .last(req_tlast),
    .user(req_tuser), .max_payload(max_payload_q), .max_read_req(max_read_req_q)
);

bind splitrx_core tag_checker #(.AXIS_W(AXIS_PCIE_W)) u_chk_tags (
    .clk, .rst,
    .req_valid(req_tvalid), .req_ready(req_tready), .req_last(req_tlast), .req_user(req_tuser),
    .cpl_valid(cpl_tvalid), .cpl_ready(cpl_tready), .cpl_last(cpl_tlast), .cpl_user(cpl_tuser)
);

`resetall
