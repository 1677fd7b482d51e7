// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test top for the XGMII word driver: two 64-bit XGMII buses on one clock, one driven by
// cocotbext-eth's XgmiiSource (the reference) and one by tb.lib.xgmii.XgmiiWordSource, compared
// word by word at every clock edge out of reset.
module xgmii_pair_top (
    input  wire         clk,
    input  wire         rst,

    // bus driven by the reference source
    input  wire [63:0]  ref_xgmii_d,
    input  wire [7:0]   ref_xgmii_c,
    // bus driven by the source under test
    input  wire [63:0]  dut_xgmii_d,
    input  wire [7:0]   dut_xgmii_c,

    output wire  [31:0] clocks,          // clock edges counted out of reset
    output wire  [31:0] mismatch_clocks  // of those, edges at which the buses differed
);

    logic [31:0] clocks_q, mismatch_clocks_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            clocks_q <= '0;
            mismatch_clocks_q <= '0;
        end else begin
            clocks_q <= clocks_q + 32'd1;
            if (ref_xgmii_d != dut_xgmii_d || ref_xgmii_c != dut_xgmii_c) begin
                mismatch_clocks_q <= mismatch_clocks_q + 32'd1;
            end
        end
    end

    assign clocks = clocks_q;
    assign mismatch_clocks = mismatch_clocks_q;

endmodule

`resetall
