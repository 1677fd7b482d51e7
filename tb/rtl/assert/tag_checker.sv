// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Read tags: no read request leaves with a tag that an earlier read still holds (tag_free). A
// read holds its tag from its request until the last completion of the request arrives (the
// completion with request_completed, or one with an error status); a core or queue reset does
// not free it, only the system reset does.
module tag_checker #(
    // request stream width in bits
    parameter int AXIS_W = 256
) (
    input  wire clk,
    input  wire rst,
    // requests (splitrx_pcie_pkg::req_hdr_t in tuser of the first beat)
    input  wire req_valid,
    input  wire req_ready,
    input  wire req_last,
    input  wire [splitrx_pcie_pkg::REQ_HDR_W-1:0] req_user,
    // completions (splitrx_pcie_pkg::cpl_hdr_t in tuser of every beat)
    input  wire cpl_valid,
    input  wire cpl_ready,
    input  wire cpl_last,
    input  wire [splitrx_pcie_pkg::CPL_HDR_W-1:0] cpl_user
);

    import splitrx_pcie_pkg::*;

    string where;
    initial where = $sformatf("%m");

    req_hdr_t rh;
    cpl_hdr_t ch;
    assign rh = req_hdr_t'(req_user);
    assign ch = cpl_hdr_t'(cpl_user);

    logic [255:0] held_q;
    logic         mid_q;    // inside a multi-beat request
    wire          issue = req_valid && req_ready && !mid_q && rh.kind == REQ_MEM_RD;
    wire          ended = cpl_valid && cpl_ready && cpl_last
                       && (ch.request_completed || ch.status != CPL_SC);

    always_ff @(posedge clk) begin
        if (rst) begin
            held_q <= '0;
            mid_q  <= 1'b0;
        end else begin
            if (req_valid && req_ready) begin
                mid_q <= !req_last;
            end
            if (ended) begin
                held_q[ch.tag] <= 1'b0;
            end
            if (issue) begin
                held_q[rh.tag] <= 1'b1;
            end
        end
    end

    tag_free: assert property (@(posedge clk) disable iff (rst)
                               issue |-> !held_q[rh.tag] || (ended && ch.tag == rh.tag))
        else splitrx_assert_pkg::report(where, "tag_free",
                 $sformatf("read at 0x%0h reuses tag %0d while a read holds it", rh.addr, rh.tag));

    logic unused;
    assign unused = ^{AXIS_W, rh, ch};

endmodule

`resetall
