// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Rules for every request on the vendor-neutral request stream (splitrx_pcie_pkg::req_hdr_t in
// tuser of a request's first beat, dword-aligned payload), checked where the requests of all
// sources have been merged, before the PCIe adapter:
//   within_mps    a write carries at most MPS = 128 << max_payload bytes
//   within_mrrs   a read asks for at most MRRS = 128 << max_read_req bytes
//   within_page   no request crosses a 4 KiB page
//   byte_enables  PCIe's first/last DW byte-enable rules (docs/verification.md)
//   read_one_beat a read is one beat (tlast on its first beat)
//   write_length  a write's payload beats carry dw_count dwords in all (tkeep), the last with tlast
module req_checker #(
    // stream width in bits
    parameter int AXIS_W = 256
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 valid,
    input  wire                 ready,
    input  wire [AXIS_W/32-1:0] keep,
    input  wire                 last,
    input  wire [splitrx_pcie_pkg::REQ_HDR_W-1:0] user,
    input  wire [2:0]           max_payload,   // the core's cfg_max_payload
    input  wire [2:0]           max_read_req   // the core's cfg_max_read_req
);

    import splitrx_pcie_pkg::*;

    string where;
    initial where = $sformatf("%m");

    req_hdr_t hdr;
    assign hdr = req_hdr_t'(user);

    logic        mid_q;       // inside a write (its first beat taken, not its last)
    logic [11:0] left_q;      // dwords of the write still to come
    wire         beat  = valid && ready;
    wire         first = valid && !mid_q;
    wire [11:0]  dws   = (hdr.dw_count == '0) ? 12'd1024 : {1'b0, hdr.dw_count};
    wire [13:0]  bytes = {dws, 2'b00};
    wire         wr    = hdr.kind == REQ_MEM_WR;

    logic [4:0] beat_dws;
    always_comb begin
        beat_dws = '0;
        for (int i = 0; i < AXIS_W / 32; i++) begin
            beat_dws = beat_dws + 5'(keep[i]);
        end
    end
    wire [11:0] left_now = first ? dws : left_q;

    // a2: address bit 2 (the request starts in the second dword of a quadword)
    function automatic logic be_ok(input logic [11:0] n, input logic a2,
                                   input logic [3:0] fb, input logic [3:0] lb);
        if (n == 12'd1) begin
            return lb == 4'h0;
        end
        if (fb == 4'h0 || lb == 4'h0) begin
            return 1'b0;
        end
        if (n == 12'd2 && !a2) begin
            return 1'b1;
        end
        return (fb == 4'hf || fb == 4'he || fb == 4'hc || fb == 4'h8)
            && (lb == 4'hf || lb == 4'h7 || lb == 4'h3 || lb == 4'h1);
    endfunction

    always_ff @(posedge clk) begin
        if (rst) begin
            mid_q <= 1'b0;
        end else if (beat) begin
            mid_q  <= wr && !last;
            left_q <= left_now - 12'(beat_dws);
        end
    end

    within_mps: assert property (@(posedge clk) disable iff (rst)
                                 first && wr |-> 15'(bytes) <= (15'd128 << max_payload))
        else splitrx_assert_pkg::report(where, "within_mps",
                 $sformatf("write of %0d B at 0x%0h over MPS %0d", bytes, hdr.addr,
                           128 << max_payload));

    within_mrrs: assert property (@(posedge clk) disable iff (rst)
                                  first && !wr |-> 15'(bytes) <= (15'd128 << max_read_req))
        else splitrx_assert_pkg::report(where, "within_mrrs",
                 $sformatf("read of %0d B at 0x%0h over MRRS %0d", bytes, hdr.addr,
                           128 << max_read_req));

    within_page: assert property (@(posedge clk) disable iff (rst)
                                  first |-> {2'b00, hdr.addr[11:2]} + dws <= 12'd1024)
        else splitrx_assert_pkg::report(where, "within_page",
                 $sformatf("%0d B at 0x%0h cross a 4 KiB page", bytes, hdr.addr));

    byte_enables: assert property (@(posedge clk) disable iff (rst)
                                   first |-> be_ok(dws, hdr.addr[2], hdr.first_be, hdr.last_be))
        else splitrx_assert_pkg::report(where, "byte_enables",
                 $sformatf("%0d DW at 0x%0h with first BE %b, last BE %b", dws, hdr.addr,
                           hdr.first_be, hdr.last_be));

    read_one_beat: assert property (@(posedge clk) disable iff (rst) first && !wr |-> last)
        else splitrx_assert_pkg::report(where, "read_one_beat", "read without tlast");

    // a beat of a write carries no dword beyond the request, and its last one comes with tlast
    write_length: assert property (@(posedge clk) disable iff (rst)
                                   beat && (mid_q || wr)
                                   |-> 12'(beat_dws) <= left_now
                                       && (last == (12'(beat_dws) == left_now)))
        else splitrx_assert_pkg::report(where, "write_length",
                 $sformatf("beat of %0d DW, %0d left, tlast %0d", beat_dws, left_now, last));

    logic unused;
    assign unused = ^{hdr.tag};

endmodule

`resetall
