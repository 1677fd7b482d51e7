// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Valid/ready stream rules (AXI4-Stream handshake): once valid is high it stays high until the
// beat is taken (valid_held), and the beat does not change while it waits (payload_stable):
// the data bytes under keep, keep, last and user. Bound to every internal stream of the design
// (tb/rtl/assert/bind_*.sv); streams without keep, last or user tie them to constants.
module axis_checker #(
    // data bits
    parameter int DATA_W = 8,
    // keep bits (each enables DATA_W / KEEP_W data bits)
    parameter int KEEP_W = 1,
    // user bits
    parameter int USER_W = 1,
    // payload_stable also for the first beat of a packet (0 only where a known deviation is
    // written down in docs/verification.md, with the test that shows it)
    parameter bit FIRST_STABLE = 1'b1
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              valid,
    input  wire              ready,
    input  wire [DATA_W-1:0] data,
    input  wire [KEEP_W-1:0] keep,
    input  wire              last,
    input  wire [USER_W-1:0] user
);

    localparam int LANE_W = DATA_W / KEEP_W;

    if (LANE_W * KEEP_W != DATA_W) begin : gen_check_keep
        $fatal(0, "axis_checker: DATA_W must be a multiple of KEEP_W (instance %m)");
    end

    string where;
    initial where = $sformatf("%m");

    logic [DATA_W-1:0] kept;
    always_comb begin
        for (int i = 0; i < KEEP_W; i++) begin
            kept[i*LANE_W +: LANE_W] = keep[i] ? data[i*LANE_W +: LANE_W] : '0;
        end
    end

    wire [DATA_W+KEEP_W+USER_W:0] beat = {kept, keep, last, user};

    valid_held: assert property (@(posedge clk) disable iff (rst) valid && !ready |=> valid)
        else splitrx_assert_pkg::report(where, "valid_held", "valid fell before ready");

    logic mid_q;  // a packet's first beat has been taken, its last not yet
    always_ff @(posedge clk) begin
        if (rst) begin
            mid_q <= 1'b0;
        end else if (valid && ready) begin
            mid_q <= !last;
        end
    end

    payload_stable: assert property (@(posedge clk) disable iff (rst)
                                     valid && !ready && (FIRST_STABLE || mid_q)
                                     |=> !valid || $stable(beat))
        else splitrx_assert_pkg::report(where, "payload_stable",
                                        "data under keep, keep, last or user changed while stalled");

endmodule

`resetall
