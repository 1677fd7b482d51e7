// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Bits the design means to be one-hot or zero (at most one set: onehot0), or exactly one-hot
// when ZERO_OK is 0 (onehot).
module onehot_checker #(
    // bits
    parameter int W = 2,
    // all zero allowed
    parameter bit ZERO_OK = 1'b1
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] bits
);

    string where;
    initial where = $sformatf("%m");

    onehot: assert property (@(posedge clk) disable iff (rst)
                             ZERO_OK ? $onehot0(bits) : $onehot(bits))
        else splitrx_assert_pkg::report(where, "onehot",
                 $sformatf("bits %b: more than one set%s", bits, ZERO_OK ? "" : " or none"));

endmodule

`resetall
