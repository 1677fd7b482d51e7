// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// A FIFO of DEPTH entries seen through its fill level (write pointer minus read pointer, W bits
// with at least one to spare): a write when full takes the level to DEPTH + 1 (not_written_full),
// a read when empty wraps it past DEPTH (not_read_empty).
module fifo_checker #(
    // level width in bits (2^W > DEPTH + 1)
    parameter int W = 5,
    // entries
    parameter int DEPTH = 16
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] level
);

    if ((1 << W) <= DEPTH + 1) begin : gen_check_width
        $fatal(0, "fifo_checker: W too narrow for DEPTH (instance %m)");
    end

    string where;
    initial where = $sformatf("%m");

    logic [W-1:0] prev_q;  // the level a clock ago
    always_ff @(posedge clk) begin
        prev_q <= rst ? '0 : level;
    end

    wire over  = 32'(level) > DEPTH;
    wire wrote = 32'(prev_q) == DEPTH;

    not_written_full: assert property (@(posedge clk) disable iff (rst) over |-> !wrote)
        else splitrx_assert_pkg::report(where, "not_written_full",
                 $sformatf("written when full: level %0d of %0d", level, DEPTH));

    not_read_empty: assert property (@(posedge clk) disable iff (rst) over |-> wrote)
        else splitrx_assert_pkg::report(where, "not_read_empty",
                 $sformatf("read when empty (or level out of range): level %0d", level));

endmodule

`resetall
